"""One function per CLI stage: read the config and run record, call the layers, write the record."""
