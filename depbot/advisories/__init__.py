"""advisories"""
