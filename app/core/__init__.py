"""The core every layer may import: the clock and local time, errors, ids and fault points. Imports nothing of the app."""
