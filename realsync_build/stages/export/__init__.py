"""Exports of a split dataset: WebDataset shards (:mod:`.webdataset`) and StreamSync lists (:mod:`.streamsync`)."""
