"""sheet/reading"""
