"""Dataflows as declarations: one small module each (os, ws, is_, nlr, rs, ...) plus a registry."""
