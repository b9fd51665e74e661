# Not part of the firmware: marks this folder as package data of the CPython distribution
# (lokaalmeten.firmware), so `lokaalmeten simulate` and `deploy` can find the sources.
