"""The GCS server: the cluster's node, job and key-value tables, served over gRPC."""
