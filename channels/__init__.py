"""Channels: adapters that turn raw input into NormalizedContacts, and the intake that makes cases of them."""
