"""Delivery: an item's files between the work folder, the object store and the catalog.

Staging sources for remote workers, publishing outputs, registering the item.
"""
