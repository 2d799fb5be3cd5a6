"""The voice conversation: one voice turn as a stream, and realtime sessions with barge-in."""
