"""Writes the labelled secrets set ``benchmarks/data/secrets/{dev,heldout}/``: fake secrets in real file formats.

Every secret is generated here from its provider's published token format (prefix, alphabet, length; GitHub
and npm tokens with their CRC32), independently of the scanner's patterns, and written into a small file of a
real format (.env, YAML, INI, TOML, JSON, shell, Python, JavaScript) among ordinary settings, quoted or not as
that format is written in practice. ``labels.jsonl`` gives each secret's file, 1-based line and type.
Placeholder files (``user:pass@host``, ``<token>``, ``xxx``, ``your-api-key``, providers' documentation
examples) and settings without secrets are negatives. The split is by seed: dev uses seed 0, held-out seed 1
(different token samples, formats, names and surrounding settings); thresholds are decided on dev only.

    python benchmarks/make_secrets_set.py [--per-provider 4]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import string
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "secrets"
U, L, D = string.ascii_uppercase, string.ascii_lowercase, string.digits
A62 = U + L + D
HEX = "0123456789abcdef"
B62 = D + U + L
URLSAFE = A62 + "_-"


def rnd(g: random.Random, n: int, alphabet: str = A62) -> str:
    return "".join(g.choice(alphabet) for _ in range(n))


def crc_token(g: random.Random, prefix: str, valid: bool = True) -> str:
    body = rnd(g, 30)
    v, check = zlib.crc32(body.encode()), ""
    while v:
        v, x = divmod(v, 62)
        check = B62[x] + check
    check = check.rjust(6, "0")
    if not valid:
        check = check[:-1] + ("a" if check[-1] != "a" else "b")
    return f"{prefix}_{body}{check}"


def uuid(g: random.Random) -> str:
    return "-".join(rnd(g, n, HEX) for n in (8, 4, 4, 4, 12))


def jwt(g: random.Random) -> str:
    def enc(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    payload = {"sub": rnd(g, 10), "iat": g.randint(10**9, 2 * 10**9)}
    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc(payload)}.{rnd(g, 43, URLSAFE)}"


def password(g: random.Random) -> str:
    return rnd(g, g.randint(4, 8)) + g.choice("!-_.@%") + rnd(g, g.randint(3, 6), D) + rnd(g, 3, L + U)


# provider -> (token generator, variable names a project would use). Formats from the providers' docs.
P = {
    "github_token": (lambda g: crc_token(g, g.choice(["ghp", "gho", "ghu", "ghs", "ghr"])), ["GITHUB_TOKEN", "GH_PAT", "github_auth"]),
    "github_token_bad_crc": (lambda g: crc_token(g, "ghp", valid=False), ["GITHUB_TOKEN", "gh_token"]),
    "github_fine_grained_pat": (lambda g: f"github_pat_{rnd(g, 22)}_{rnd(g, 59)}", ["GITHUB_PAT", "gh_token"]),
    "gitlab_token": (lambda g: g.choice(["glpat-", "gldt-", "glptt-", "glrt-"]) + rnd(g, 20, URLSAFE), ["GITLAB_TOKEN", "CI_JOB_AUTH"]),
    "gitlab_routable_token": (
        lambda g: g.choice(["glpat-", "glrt-t1_", "glrt-t3_"]) + rnd(g, 27, URLSAFE) + ".01." + rnd(g, 9, D + L),
        ["GITLAB_TOKEN", "RUNNER_TOKEN"],
    ),
    "gitlab_runner_registration": (lambda g: "GR1348941" + rnd(g, 20, URLSAFE), ["REGISTRATION_TOKEN"]),
    "bitbucket_token": (lambda g: "ATBB" + rnd(g, 32), ["BITBUCKET_APP_PASSWORD"]),
    "atlassian_api_token": (lambda g: "ATATT3" + rnd(g, 186, URLSAFE + "="), ["JIRA_API_TOKEN", "CONFLUENCE_TOKEN"]),
    "npm_token": (lambda g: crc_token(g, "npm"), ["NPM_TOKEN", "NODE_AUTH_TOKEN"]),
    "npm_token_bad_crc": (lambda g: crc_token(g, "npm", valid=False), ["NPM_TOKEN"]),
    "pypi_token": (lambda g: "pypi-AgEIcHlwaS5vcmc" + rnd(g, g.randint(60, 150), URLSAFE), ["TWINE_PASSWORD", "PYPI_API_TOKEN"]),
    "rubygems_api_key": (lambda g: "rubygems_" + rnd(g, 48, HEX), ["GEM_HOST_API_KEY"]),
    "nuget_api_key": (lambda g: "oy2" + rnd(g, 43, L + D), ["NUGET_API_KEY"]),
    "clojars_token": (lambda g: "CLOJARS_" + rnd(g, 60, L + D), ["CLOJARS_PASSWORD"]),
    "docker_hub_pat": (lambda g: "dckr_pat_" + rnd(g, 27, URLSAFE), ["DOCKERHUB_TOKEN", "DOCKER_PASSWORD"]),
    "circleci_token": (lambda g: f"CCIPAT_{rnd(g, 22)}_{rnd(g, 40, HEX)}", ["CIRCLECI_TOKEN"]),
    "buildkite_token": (lambda g: "bkua_" + rnd(g, 40, HEX), ["BUILDKITE_API_TOKEN"]),
    "jfrog_api_key": (lambda g: "AKCp" + rnd(g, 69), ["ARTIFACTORY_API_KEY"]),
    "sonarqube_token": (lambda g: g.choice(["sqp_", "squ_", "sqa_"]) + rnd(g, 40, HEX), ["SONAR_TOKEN"]),
    "octopus_deploy_api_key": (lambda g: "API-" + rnd(g, 26, U + D), ["OCTOPUS_API_KEY"]),
    "pulumi_token": (lambda g: "pul-" + rnd(g, 40, HEX), ["PULUMI_ACCESS_TOKEN"]),
    "terraform_cloud_token": (lambda g: f"{rnd(g, 14)}.atlasv1.{rnd(g, 67, URLSAFE)}", ["TFE_TOKEN", "TF_API_TOKEN"]),
    "hashicorp_vault_token": (lambda g: "hvs." + rnd(g, 95, URLSAFE), ["VAULT_TOKEN"]),
    "doppler_token": (lambda g: "dp.pt." + rnd(g, 43), ["DOPPLER_TOKEN"]),
    "prefect_api_key": (lambda g: "pnu_" + rnd(g, 36), ["PREFECT_API_KEY"]),
    "infracost_api_key": (lambda g: "ico-" + rnd(g, 32), ["INFRACOST_API_KEY"]),
    "readme_api_key": (lambda g: "rdme_" + rnd(g, 70, L + D), ["README_API_KEY"]),
    "postman_api_key": (lambda g: f"PMAK-{rnd(g, 24, HEX)}-{rnd(g, 34, HEX)}", ["POSTMAN_API_KEY"]),
    "aws_access_key_id": (lambda g: g.choice(["AKIA", "ASIA"]) + rnd(g, 16, U + "234567"), ["AWS_ACCESS_KEY_ID", "aws_access_key_id"]),
    "aws_secret_access_key": (lambda g: rnd(g, 40, A62 + "+/"), ["AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"]),
    "alibaba_access_key_id": (lambda g: "LTAI" + rnd(g, 20), ["ALIBABA_CLOUD_ACCESS_KEY_ID"]),
    "azure_ad_client_secret": (
        lambda g: rnd(g, 3, A62) + g.choice(D) + "Q~" + rnd(g, 34, A62 + "_~.-"),
        ["AZURE_CLIENT_SECRET", "client_secret"],
    ),
    "azure_storage_key": (
        lambda g: f"DefaultEndpointsProtocol=https;AccountName={rnd(g, 10, L)};AccountKey={rnd(g, 86, A62 + '+/')}==;EndpointSuffix=core.windows.net",
        ["AZURE_STORAGE_CONNECTION_STRING"],
    ),
    "google_api_key": (lambda g: "AIza" + rnd(g, 35, URLSAFE), ["GOOGLE_API_KEY", "MAPS_KEY"]),
    "google_oauth_client_secret": (lambda g: "GOCSPX-" + rnd(g, 28, URLSAFE), ["GOOGLE_CLIENT_SECRET"]),
    "digitalocean_token": (lambda g: g.choice(["dop_v1_", "doo_v1_"]) + rnd(g, 64, HEX), ["DIGITALOCEAN_TOKEN"]),
    "heroku_api_key": (lambda g: "HRKU-AA" + rnd(g, 58, URLSAFE), ["HEROKU_API_KEY"]),
    "heroku_api_key_legacy": (lambda g: uuid(g), ["HEROKU_API_KEY"]),
    "fly_io_token": (lambda g: "fo1_" + rnd(g, 43, URLSAFE), ["FLY_API_TOKEN"]),
    "openshift_token": (lambda g: "sha256~" + rnd(g, 43, URLSAFE), ["OPENSHIFT_TOKEN"]),
    "scalingo_token": (lambda g: "tk-us-" + rnd(g, 48, URLSAFE), ["SCALINGO_API_TOKEN"]),
    "yandex_api_key": (lambda g: "AQVN" + rnd(g, 36, URLSAFE), ["YC_API_KEY"]),
    "supabase_token": (lambda g: "sbp_" + rnd(g, 40, HEX), ["SUPABASE_ACCESS_TOKEN"]),
    "planetscale_token": (lambda g: "pscale_tkn_" + rnd(g, 43, URLSAFE), ["PLANETSCALE_SERVICE_TOKEN"]),
    "render_api_key": (lambda g: "rnd_" + rnd(g, 32), ["RENDER_API_KEY"]),
    "vercel_token": (lambda g: "vcp_" + rnd(g, 56), ["VERCEL_TOKEN"]),
    "databricks_token": (lambda g: "dapi" + rnd(g, 32, HEX), ["DATABRICKS_TOKEN"]),
    "tailscale_key": (lambda g: f"tskey-auth-{rnd(g, 12)}-{rnd(g, 30)}", ["TS_AUTHKEY"]),
    "openai_api_key": (lambda g: g.choice(["sk-", "sk-proj-"]) + rnd(g, 20) + "T3BlbkFJ" + rnd(g, 20), ["OPENAI_API_KEY", "openai_key"]),
    "anthropic_api_key": (lambda g: "sk-ant-api03-" + rnd(g, 93, URLSAFE) + "AA", ["ANTHROPIC_API_KEY"]),
    "huggingface_token": (lambda g: "hf_" + rnd(g, 34, U + L), ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]),
    "huggingface_org_token": (lambda g: "api_org_" + rnd(g, 34, U + L), ["HF_ORG_TOKEN", "HUGGINGFACE_API"]),
    "groq_api_key": (lambda g: "gsk_" + rnd(g, 52), ["GROQ_API_KEY"]),
    "perplexity_api_key": (lambda g: "pplx-" + rnd(g, 48), ["PERPLEXITY_API_KEY"]),
    "replicate_api_token": (lambda g: "r8_" + rnd(g, 37), ["REPLICATE_API_TOKEN"]),
    "xai_api_key": (lambda g: "xai-" + rnd(g, 80), ["XAI_API_KEY"]),
    "langsmith_api_key": (lambda g: f"lsv2_pt_{rnd(g, 32, HEX)}_{rnd(g, 10, HEX)}", ["LANGCHAIN_API_KEY"]),
    "slack_token": (lambda g: f"xox{g.choice('bp')}-{g.randint(10**10, 10**12)}-{g.randint(10**10, 10**12)}-{rnd(g, 24)}", ["SLACK_BOT_TOKEN", "slack_token"]),
    "slack_webhook": (
        lambda g: f"https://hooks.slack.com/services/T{rnd(g, 8, U + D)}/B{rnd(g, 10, U + D)}/{rnd(g, 24)}",
        ["SLACK_WEBHOOK_URL", "webhook"],
    ),
    "slack_workflow_webhook": (
        lambda g: f"https://hooks.slack.com/workflows/T{rnd(g, 8, U + D)}/A{rnd(g, 10, U + D)}/{g.randint(10**17, 10**18)}/{rnd(g, 24)}",
        ["SLACK_WORKFLOW_URL", "notify_url"],
    ),
    "discord_webhook": (
        lambda g: f"https://discord.com/api/webhooks/{g.randint(10**17, 10**18)}/{rnd(g, 68, URLSAFE)}",
        ["DISCORD_WEBHOOK"],
    ),
    "discord_bot_token": (lambda g: g.choice("MN") + rnd(g, 23) + "." + rnd(g, 6, URLSAFE) + "." + rnd(g, 27, URLSAFE), ["DISCORD_BOT_TOKEN"]),
    "microsoft_teams_webhook": (
        lambda g: f"https://{rnd(g, 8, L)}.webhook.office.com/webhookb2/{uuid(g)}@{uuid(g)}/IncomingWebhook/{rnd(g, 32, HEX)}/{uuid(g)}",
        ["TEAMS_WEBHOOK_URL"],
    ),
    "telegram_bot_token": (lambda g: f"{g.randint(10**8, 10**9)}:AA{rnd(g, 33, URLSAFE)}", ["TELEGRAM_BOT_TOKEN"]),
    "twilio_api_key": (lambda g: "SK" + rnd(g, 32, HEX), ["TWILIO_API_KEY"]),
    "sendgrid_api_key": (lambda g: f"SG.{rnd(g, 22, URLSAFE)}.{rnd(g, 43, URLSAFE)}", ["SENDGRID_API_KEY"]),
    "sendinblue_api_key": (lambda g: f"xkeysib-{rnd(g, 64, HEX)}-{rnd(g, 16)}", ["BREVO_API_KEY"]),
    "mailgun_api_key": (lambda g: "key-" + rnd(g, 32, HEX), ["MAILGUN_API_KEY"]),
    "mailchimp_api_key": (lambda g: rnd(g, 32, HEX) + f"-us{g.randint(1, 20)}", ["MAILCHIMP_API_KEY"]),
    "telnyx_api_key": (lambda g: f"KEY{rnd(g, 32, '0123456789ABCDEF')}_{rnd(g, 22)}", ["TELNYX_API_KEY"]),
    "linear_api_key": (lambda g: "lin_api_" + rnd(g, 40), ["LINEAR_API_KEY"]),
    "notion_token": (lambda g: "ntn_" + rnd(g, 11, D) + rnd(g, 35), ["NOTION_TOKEN"]),
    "hubspot_private_app_token": (lambda g: "pat-na1-" + uuid(g), ["HUBSPOT_ACCESS_TOKEN"]),
    "typeform_token": (lambda g: "tfp_" + rnd(g, 59, URLSAFE), ["TYPEFORM_TOKEN"]),
    "contentful_token": (lambda g: "CFPAT-" + rnd(g, 43, URLSAFE), ["CONTENTFUL_MANAGEMENT_TOKEN"]),
    "twitter_bearer_token": (lambda g: "A" * 22 + rnd(g, 80), ["TWITTER_BEARER_TOKEN"]),
    "facebook_access_token": (lambda g: "EAAB" + rnd(g, 150), ["FB_ACCESS_TOKEN"]),
    "mapbox_secret_token": (lambda g: f"sk.eyJ1Ijoi{rnd(g, 60, URLSAFE)}.{rnd(g, 22, URLSAFE)}", ["MAPBOX_SECRET_TOKEN"]),
    "stripe_key": (lambda g: g.choice(["sk_live_", "rk_live_", "sk_test_"]) + rnd(g, g.choice([24, 99])), ["STRIPE_SECRET_KEY", "stripe_key"]),
    "stripe_webhook_secret": (lambda g: "whsec_" + rnd(g, 32), ["STRIPE_WEBHOOK_SECRET"]),
    "square_token": (lambda g: "EAAA" + rnd(g, 60, URLSAFE), ["SQUARE_ACCESS_TOKEN"]),
    "shopify_token": (lambda g: g.choice(["shpat_", "shpss_", "shpca_"]) + rnd(g, 32, HEX), ["SHOPIFY_ACCESS_TOKEN"]),
    "shippo_api_token": (lambda g: "shippo_live_" + rnd(g, 40, HEX), ["SHIPPO_TOKEN"]),
    "easypost_api_key": (lambda g: "EZAK" + rnd(g, 54, L + D), ["EASYPOST_API_KEY"]),
    "flutterwave_key": (lambda g: f"FLWSECK_TEST-{rnd(g, 32, 'abcdefgh0123456789')}-X", ["FLW_SECRET_KEY"]),
    "duffel_api_token": (lambda g: "duffel_live_" + rnd(g, 43, URLSAFE), ["DUFFEL_ACCESS_TOKEN"]),
    "plaid_access_token": (lambda g: "access-production-" + uuid(g), ["PLAID_ACCESS_TOKEN"]),
    "new_relic_key": (lambda g: "NRAK-" + rnd(g, 27, U + D), ["NEW_RELIC_API_KEY"]),
    "dynatrace_token": (lambda g: f"dt0c01.{rnd(g, 24, U + D)}.{rnd(g, 64, U + D)}", ["DT_API_TOKEN"]),
    "grafana_token": (lambda g: f"glsa_{rnd(g, 32)}_{rnd(g, 8, HEX)}", ["GRAFANA_SERVICE_ACCOUNT_TOKEN"]),
    "sentry_token": (lambda g: "sntryu_" + rnd(g, 64, HEX), ["SENTRY_AUTH_TOKEN"]),
    "datadog_api_key": (lambda g: rnd(g, 32, HEX), ["DD_API_KEY", "DATADOG_API_KEY"]),
    "cloudflare_api_token": (lambda g: rnd(g, 40, URLSAFE), ["CLOUDFLARE_API_TOKEN", "CF_API_TOKEN"]),
    "algolia_api_key": (lambda g: rnd(g, 32, HEX), ["ALGOLIA_ADMIN_KEY", "ALGOLIA_API_KEY"]),
    "okta_api_token": (lambda g: "00" + rnd(g, 40, URLSAFE), ["OKTA_API_TOKEN"]),
    "age_secret_key": (lambda g: "AGE-SECRET-KEY-1" + rnd(g, 58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"), ["SOPS_AGE_KEY"]),
    "jwt": (jwt, ["SESSION_TOKEN", "ACCESS_TOKEN", "auth_token"]),
    "password_assignment": (password, ["DB_PASSWORD", "password", "MYSQL_ROOT_PASSWORD", "redis_pass", "SMTP_PASSWORD"]),
    "secret_assignment": (lambda g: rnd(g, g.randint(24, 50), A62 + "!@#%^*-_"), ["SECRET_KEY", "app_secret", "JWT_SECRET"]),
    "password_in_url": (
        lambda g: f"{g.choice(['postgresql', 'mysql', 'mongodb+srv', 'redis', 'amqp'])}://{g.choice(['app', 'svc_api', 'admin'])}:{rnd(g, 16)}@{rnd(g, 6, L)}.internal:5432/{rnd(g, 5, L)}",
        ["DATABASE_URL", "BROKER_URL", "mongo_uri"],
    ),
}  # fmt: skip
GENERIC_EXTRA = {"password_assignment": 3, "secret_assignment": 2, "password_in_url": 2, "jwt": 1}

# placeholders and documentation examples that must NOT be reported
PLACEHOLDERS = [
    ("DATABASE_URL", "postgresql://user:pass@localhost:5432/mydb"),
    ("BROKER_URL", "amqp://guest:guest@localhost:5672//"),
    ("REDIS_URL", "redis://username:password@redis-host:6379/0"),
    ("GITHUB_TOKEN", "<token>"),
    ("GITHUB_TOKEN", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ("OPENAI_API_KEY", "your-api-key"),
    ("OPENAI_API_KEY", "sk-..."),
    ("API_KEY", "xxx"),
    ("API_KEY", "<your-api-key>"),
    ("SECRET_KEY", "changeme"),
    ("password", "********"),
    ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    ("STRIPE_SECRET_KEY", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
    ("JWT", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
    ("DB_PASSWORD", "${DB_PASSWORD}"),
    ("HF_TOKEN", "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ("password", "<password>"),
    ("token", "YOUR_TOKEN_HERE"),
    ("api_key", "{{ api_key }}"),
    ("SECRET", "$(cat /run/secrets/app)"),
    ("MONGO_URI", "mongodb://root:example@mongo:27017/"),
    ("CLIENT_SECRET", "<client-secret>"),
    ("ETAG", '"33a64df551425fcc55e4d42a148795d9f25f89d4"'),
    ("ALPHABET", "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"),
    ("TOKEN_TYPE", "Bearer"),
    ("password_file", "/run/secrets/db_password"),
    ("SECRET_NAME", "prod/app/database"),
]  # fmt: skip

# ordinary settings around the secret (names, values)
SETTINGS = [
    ("APP_ENV", "production"), ("LOG_LEVEL", "info"), ("PORT", "8080"), ("WORKERS", "4"),
    ("REGION", "eu-west-1"), ("CACHE_TTL", "3600"), ("DEBUG", "false"), ("TIMEZONE", "UTC"),
    ("MAX_UPLOAD_MB", "25"), ("FEATURE_FLAGS", "search,export"), ("SENTRY_ENVIRONMENT", "prod"),
    ("BUCKET", "assets-prod-7421"), ("HOST", "0.0.0.0"), ("RETRIES", "3"), ("LOCALE", "en_US"),
    ("COMMIT_SHA", "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e"), ("BUILD_ID", "20240611.3"),
]  # fmt: skip
FORMATS = ("env", "yaml", "ini", "toml", "json", "sh", "py", "js")


def render(fmt: str, items: list[tuple[str, str]], g: random.Random) -> list[str]:
    """Lines of a file of format ``fmt`` holding ``items``; values quoted as that format is written."""
    out: list[str] = []
    if fmt == "env":
        out.append("# service configuration")
        for k, v in items:
            out.append(f'{k.upper()}="{v}"' if " " in v or g.random() < 0.25 else f"{k.upper()}={v}")
    elif fmt == "yaml":
        out += ["service:", "  name: api", "  settings:"]
        for k, v in items:
            q = g.random() < 0.3 and '"' not in v
            out.append(f"    {k.lower()}: " + (f'"{v}"' if q else v))
    elif fmt == "ini":
        out += ["[default]", "; generated by setup"]
        for k, v in items:
            out.append(f"{k.lower()} = {v}")
    elif fmt == "toml":
        out += ["[app]", 'name = "api"']
        for k, v in items:
            out.append(
                f"{k.lower()} = {v}"
                if v.isdigit() or v in ("true", "false")
                else f"{k.lower()} = {json.dumps(v)}"
            )
    elif fmt == "json":
        body = {k: v for k, v in items}
        out += json.dumps({"name": "api", "config": body}, indent=2).splitlines()
    elif fmt == "sh":
        out += ["#!/usr/bin/env bash", "set -euo pipefail"]
        for k, v in items:
            out.append(
                f"export {k.upper()}={v}"
                if g.random() < 0.6 and " " not in v
                else f'export {k.upper()}="{v}"'
            )
        out.append('exec python -m app "$@"')
    elif fmt == "py":
        out += ['"""Settings for the deployment."""', "import os", ""]
        for k, v in items:
            out.append(f"{k.upper()} = {v}" if v.isdigit() else f"{k.upper()} = {json.dumps(v)}")
    elif fmt == "js":
        out += ["module.exports = {"]
        for k, v in items:
            name = k.lower().replace("_", "")
            out.append(f"  {name}: {json.dumps(v)},")
        out.append("};")
    return out


def _secret_line(lines: list[str], value: str) -> int:
    first = value.splitlines()[0][:40]
    for i, line in enumerate(lines):
        if first in line:
            return i + 1
    raise AssertionError(f"value not written: {value[:40]}")


def build(split: str, seed: int, per_provider: int) -> None:
    g = random.Random(seed)
    out = OUT / split
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    labels, n = [], 0
    for kind, (gen, names) in P.items():
        for _ in range(per_provider + GENERIC_EXTRA.get(kind, 0)):
            fmt = g.choice(FORMATS)
            value = gen(g)
            items = g.sample(SETTINGS, g.randint(2, 6))
            items.insert(g.randint(0, len(items)), (g.choice(names), value))
            lines = render(fmt, items, g)
            name = f"{n:04d}_{kind}." + {"env": "env", "sh": "sh"}.get(fmt, fmt)
            (out / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
            labels.append({"file": name, "line": _secret_line(lines, value), "type": kind, "format": fmt})
            n += 1
    for k, v in PLACEHOLDERS:  # each placeholder in two formats
        for fmt in g.sample(FORMATS, 2):
            items = g.sample(SETTINGS, 3) + [(k, v)]
            name = f"{n:04d}_placeholder." + fmt
            (out / name).write_text("\n".join(render(fmt, items, g)) + "\n", encoding="utf-8")
            n += 1
    with open(out / "labels.jsonl", "w") as f:
        for row in labels:
            f.write(json.dumps(row) + "\n")
    print(f"{split}: {len(labels)} secrets of {len(P)} kinds, {n - len(labels)} placeholder files -> {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-provider", type=int, default=4)
    args = ap.parse_args()
    build("dev", 0, args.per_provider)
    build("heldout", 1, args.per_provider)


if __name__ == "__main__":
    main()
