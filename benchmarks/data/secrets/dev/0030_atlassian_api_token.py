"""Settings for the deployment."""
import os

LOG_LEVEL = "info"
HOST = "0.0.0.0"
CONFLUENCE_TOKEN = "ATATT3sM33f8wcye9yIgjvC8ejFpyNGSyD1y3N67UVr80Uk=OvsSt8GZgWplwFl3E0iwasRQOtVD3y7JJ2RVTaVdDR-tkqP0hUr=qSwnewsx8n00MTSANaOiVwKEBOu9oN5vg_dUJVDV0a4zhCRxV4GwLzqd=6F9Ni=_y8hXduUmS6II9y0Lh9dOlSuMRHRZ"
