"""Stream types (ohlcv, iot, spatial, event, vitals): one module each, one registry.

Each type's module holds its whole definition: entry fields (the pydantic entry model),
its text rendering, statistics and their model, store, synthetic generator, CSV column
names, the plot that draws it (by name: this package imports no Qt) and the prompt and
flash questions a new session of it starts with.

    from app.streams import registry
    iot = registry.get("iot")
    iot.fields(); iot.render(entry); iot.new_store(); iot.generator(seed=1, start=0, interval=1)
"""

from app.streams import registry
from app.streams.base import EntryModel, FieldSpec, StatsModel, StreamType

__all__ = ["EntryModel", "FieldSpec", "StatsModel", "StreamType", "registry"]
