"""OGC SensorThings API v1.1 (read) at ``/v1.1``, over the same store as ``/v1``.

- ``routes``: the ``/v1.1`` resource paths, their answers and ``$ref`` links;
- ``model``: the entities (Thing, Datastream, Observation, …) a request sees, mapped from
  nodes, quantities and readings, in an ``EntitySource`` made once per request;
- ``query``: the query options (``$filter``, ``$orderby``, ``$top``, ``$expand``, …) parsed,
  bounded and applied to entity lists;
- ``expressions``: the ``$filter``/``$orderby`` expression language, parsed into ``Expr``
  trees and evaluated;
- ``geometry``: WKT literals and the planar tests of the spatial functions;
- ``observations``: the reading Observations, read from the store as narrowly as a request
  allows;
- ``noise``, ``noise_observations``: the daily noise indicators as Datastreams of their own
  and their Observations, one a local day.

docs/api.md gives the mapping of nodes and readings onto entities.
"""
