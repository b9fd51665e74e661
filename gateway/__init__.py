"""The gateway: kit records in over MQTT or HTTP, validated readings out to the stores.

A pipeline of stages, read top to bottom in :mod:`lokaalmeten.gateway.pipeline`:

    MqttIngest (QoS 1, persistent session, manual acknowledgement)
    HTTP ingest (gateway/http_ingest.py: one route module per format)
      -> RecordValidator (schema, node identity, time, plausible ranges; counts refusals and
         quarantines them) with QualityStage (quality flags; values never changed;
         docs/quality.md)
      -> Spool.put (durable commit; only now is a message acknowledged or a request answered)
      -> the kit-health alert rules count the readings spooled (gateway/alerts.py;
         docs/gateway.md#alerts)
      -> one StoreWriter per output (batches, back-off): the store and any forwarders
         (gateway/outputs.py), each taking a reading out of the spool only once it is written
"""
