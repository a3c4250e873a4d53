"""resources/keysets"""
