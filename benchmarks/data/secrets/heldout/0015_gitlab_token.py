"""Settings for the deployment."""
import os

CI_JOB_AUTH = "glptt-pAP45snzr-OwwaAjZ70n"
LOCALE = "en_US"
DEBUG = "false"
CACHE_TTL = 3600
