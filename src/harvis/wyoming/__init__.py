"""The Wyoming front end: Home Assistant's STT (asr), TTS and conversation (handle) protocol,
over the same engines, voices, router and store as the HTTP API."""
