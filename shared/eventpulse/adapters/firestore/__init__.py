"""Adapters on Google Cloud Firestore (the device registry in the cloud)."""
