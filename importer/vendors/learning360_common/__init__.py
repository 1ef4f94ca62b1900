"""What 360Learning's v1 and v2 share: columns, date rules, and the sandbox's helpers."""
