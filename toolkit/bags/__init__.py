"""Rosbag reading, indexing (metadata without payloads), slicing and frames."""
