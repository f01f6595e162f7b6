"""Settings for the deployment."""
import os

CACHE_TTL = 3600
MAX_UPLOAD_MB = 25
MAPBOX_SECRET_TOKEN = "sk.eyJ1Ijoiu0nNhg5upzsWUFweeaJdiXwMG_O5wUdJXt2yuiO2_Zj0i0VcAal_OYOEkeTD.p_nErYZ4AYjxCL9SMGyM8L"
