"""Transition stories and the moral contexts they are written for."""
