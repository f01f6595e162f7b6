"""Settings for the deployment."""
import os

GEM_HOST_API_KEY = "rubygems_8f0bb616e66047ef289ca923fb274d70f94b43aa2b669dcc"
REGION = "eu-west-1"
LOCALE = "en_US"
