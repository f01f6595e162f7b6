"""Settings for the deployment."""
import os

DEBUG = "false"
README_API_KEY = "rdme_mlnrx7220n82vgn4tgbceo91u6gf4s53dt894x4i8od2ppocshyv0wjy3i0kocx33hvqit"
FEATURE_FLAGS = "search,export"
