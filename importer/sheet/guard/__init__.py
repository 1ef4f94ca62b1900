"""sheet/guard"""
