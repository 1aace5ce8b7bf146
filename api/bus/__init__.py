"""The event-bus edge: `triage consume` decides order and return events from NATS JetStream
or RabbitMQ through the API's decision core and publishes the decisions back.

`config` (names, limits), `envelope` (message formats), `broker` (the adapters' surface),
`nats` and `rabbitmq` (the adapters), `consumer` (the loop), `metrics`, `run` (the process).
"""

from api.bus.config import BusConfig, bus_config
from api.bus.run import consume

__all__ = ["BusConfig", "bus_config", "consume"]
