//! A small, typed async client for the HashiCorp Vault / OpenBao HTTP API.
