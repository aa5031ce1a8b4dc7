"""The Nodepool launcher: fulfils node requests from ZooKeeper and serves its API."""
