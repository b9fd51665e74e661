"""The gateway: kit records in over MQTT, validated readings out to the store.

A pipeline of stages, read top to bottom in :mod:`lokaalmeten.gateway.pipeline`:

    MqttIngest (QoS 1, persistent session, manual acknowledgement)
      -> RecordValidator (schema, node identity, time, plausible ranges; counts refusals)
         with QualityStage (quality flags; values never changed; docs/quality.md)
      -> Store.write (one transaction per batch)
      -> MqttIngest.ack (only now may the broker forget the messages)
"""
