"""PM correction beside the raw series: a humidity correction from the kit's own relative
humidity (:mod:`.humidity`), reference-station data a municipality downloads
(:mod:`.reference`), co-location fits against it (:mod:`.fit`) and the calibration book that
keeps both, versioned (:mod:`.book`). Nothing here writes to the store: raw readings stay as
they were measured."""
