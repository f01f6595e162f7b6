"""Provider token formats for ``SecretScanner``: one ``SecretRule`` per provider, written from each provider's
published token format (prefix, alphabet, length, separators).

Every alternative starts with a literal character (see ``secrets._combined``) so that one alternation over all
rules can skip positions that cannot start a token. Formats without a distinctive prefix (32 hex digits, a
UUID) are matched only after a keyword naming the provider and an assignment (``_keyword_alts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SecretRule:
    """One detector: alternatives that each start with a literal character (see ``secrets._combined``).

    A group ``(?P<s>...)`` marks the secret inside the match (else the whole match is the secret);
    ``boundary`` asks for a non-word character (or the text start) right before the match; ``validate`` names
    the check run on a candidate (``"crc32"`` sets the confidence, the others accept or reject).
    """

    name: str
    alternatives: tuple[str, ...]
    validate: str = ""  # "", "crc32", "jwt", "entropy", "assigned", "url_password"
    boundary: bool = False
    lead: int = 0  # characters before the match that belong to the secret (checked by a lookbehind)


# an assignment in code or config: ``=``, ``:=``, ``:``, ``=>``, ``->`` or whitespace (``Authorization: Bearer``)
ASSIGN = r"(?:\s*(?:=|:=|:|=>|==|->)\s*|\s+)"
_END = r"(?![A-Za-z0-9_-])"
_HEX = "[0-9a-f]"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def keyword_alts(words: Sequence[str], rest: str) -> tuple[str, ...]:
    """Case-insensitive keywords, then ``rest``: one alternative per case variant of the first two letters.

    Two literal letters let the scanner's prefix trie reject a position (``pr`` in ``print``) before it enters
    any group, which is what most of the scan's time is spent on.
    """
    by_head: dict[str, list[str]] = {}
    for w in words:
        n = 2 if len(w) > 2 and w[:2].isalpha() else 1
        for head in {"".join(c) for c in _case_variants(w[:n].lower())}:
            by_head.setdefault(head, []).append(w[n:])
    return tuple(f"{head}(?i:{'|'.join(tails)})" + rest for head, tails in sorted(by_head.items()))


def _case_variants(word: str) -> list[tuple[str, ...]]:
    from itertools import product

    return list(product(*[(c, c.upper()) if c.isalpha() else (c,) for c in word]))


def _kw(name: str, words: Sequence[str], value: str, validate: str = "entropy") -> SecretRule:
    """A provider whose token has no prefix: ``<keyword>...<assignment><quote?><value>``."""
    rest = r"[\w.\-]{0,30}?['\"]?\]?" + ASSIGN + r"[bru]?['\"]?(?P<s>" + value + r")" + _END
    return SecretRule(name, keyword_alts(words, rest), validate=validate)


def _p(name: str, *alternatives: str, validate: str = "") -> SecretRule:
    """A provider whose token starts with a fixed prefix (matched at a word boundary)."""
    return SecretRule(name, tuple(alternatives), validate=validate, boundary=True)


PROVIDER_RULES: tuple[SecretRule, ...] = (
    # --- version control, package registries, CI/CD
    _p("github_token", r"gh[pousr]_[A-Za-z0-9]{36}" + _END, validate="crc32"),
    _p("github_fine_grained_pat", r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}" + _END),
    _p(
        "gitlab_token",
        # personal/deploy/trigger/feed/runner/OAuth/CI-build/SCIM/incoming-mail/agent/feature-flag tokens:
        # legacy 20 chars, or routable ``<prefix><payload>.<version>.<length+crc32 base36>``
        r"gl(?:pat|dt|ptt|ft|rt|oas|cbt|soat|imt|agent|ffct)-[A-Za-z0-9_-]{20,64}"
        r"(?:\.[0-9a-z]{2}\.[0-9a-z]{7,10})?" + _END,
        r"GR1348941[A-Za-z0-9_-]{20}" + _END,
    ),
    _p("bitbucket_token", r"ATBB[A-Za-z0-9_=.-]{32}" + _END),
    _p("atlassian_api_token", r"ATATT3[A-Za-z0-9_=-]{186}" + _END, r"ATCTT3[A-Za-z0-9_=-]{186}" + _END),
    _p("npm_token", r"npm_[A-Za-z0-9]{36}" + _END, validate="crc32"),
    _p(
        "pypi_token",
        r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
        r"pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_-]{50,}",
    ),
    _p("rubygems_api_key", r"rubygems_[a-f0-9]{48}" + _END),
    _p("nuget_api_key", r"oy2[a-z0-9]{43}" + _END),
    _p("clojars_token", r"CLOJARS_[a-z0-9]{60}" + _END),
    _p("docker_hub_pat", r"dckr_pat_[A-Za-z0-9_-]{27}" + _END, r"dckr_oat_[A-Za-z0-9_-]{32}" + _END),
    _p("circleci_token", r"CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40}" + _END),
    _p("buildkite_token", r"bkua_[a-f0-9]{40}" + _END),
    _p("jfrog_api_key", r"AKCp[A-Za-z0-9]{69}" + _END, r"cmVmdGtu[A-Za-z0-9]{56}" + _END),
    _p("sonarqube_token", r"sq[pua]_[a-f0-9]{40}" + _END),
    _p("octopus_deploy_api_key", r"API-[A-Z0-9]{26}" + _END),
    _p("pulumi_token", r"pul-[a-f0-9]{40}" + _END),
    SecretRule(
        "terraform_cloud_token",
        (r".atlasv1\.(?<=[A-Za-z0-9]{14}\.atlasv1\.)[A-Za-z0-9_=-]{60,70}" + _END,),
        boundary=True,
        lead=14,
    ),
    _p("hashicorp_vault_token", r"hv[sb]\.[A-Za-z0-9_-]{90,120}" + _END),
    _p("doppler_token", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}" + _END),
    _p("prefect_api_key", r"pnu_[A-Za-z0-9]{36}" + _END),
    _p("infracost_api_key", r"ico-[A-Za-z0-9]{32}" + _END),
    _p("readme_api_key", r"rdme_[a-z0-9]{70}" + _END),
    _p("postman_api_key", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}" + _END),
    _p("snyk_token", r"snyk_(?:uat|sat|ort)\.[a-z0-9]{8}\.[A-Za-z0-9_-]{40,50}" + _END),
    # --- cloud providers
    _p(
        "aws_access_key_id",
        *(p + r"[A-Z2-7]{16}(?![A-Za-z0-9])" for p in ("AKIA", "ASIA", "ABIA", "ACCA", "A3T[A-Z0-9]")),
    ),
    _p("alibaba_access_key_id", r"LTAI[A-Za-z0-9]{20}" + _END),
    # ``xxx8Q~...``: the literal ``Q~`` starts the match (a literal prefix lets the scan reject other
    # positions cheaply), the four characters before it come by lookbehind
    SecretRule(
        "azure_ad_client_secret",
        (r"Q~(?<=[A-Za-z0-9_~.]{3}\dQ~)[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])",),
        boundary=True,
        lead=4,
    ),
    SecretRule("azure_storage_key", (r"AccountKey=(?P<s>[A-Za-z0-9+/]{86}==)",)),
    SecretRule("azure_shared_access_key", (r"SharedAccessKey=(?P<s>[A-Za-z0-9+/]{42,44}=?)",)),
    _kw("azure_devops_pat", ["azure_?devops", "ado_?pat", "azdo", "vsts"], r"[a-z2-7]{52}"),
    _p("google_api_key", r"AIza[0-9A-Za-z_-]{35}" + _END),
    _p("google_oauth_client_secret", r"GOCSPX-[A-Za-z0-9_-]{28}" + _END),
    _p("google_oauth_access_token", r"ya29\.[A-Za-z0-9_-]{30,}" + _END),
    _p("digitalocean_token", r"do[opr]_v1_[a-f0-9]{64}" + _END),
    _p("cloudflare_origin_ca_key", r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}" + _END),
    _p("heroku_api_key", r"HRKU-AA[A-Za-z0-9_-]{58}" + _END),
    _p("fly_io_token", r"fo1_[A-Za-z0-9_-]{43}" + _END, r"fm[12][ar]?_[A-Za-z0-9+/]{100,}={0,3}"),
    _p("openshift_token", r"sha256~[A-Za-z0-9_-]{43}" + _END),
    _p("scalingo_token", r"tk-us-[A-Za-z0-9_-]{48}" + _END),
    _p("yandex_api_key", r"AQVN[A-Za-z0-9_-]{35,38}" + _END),
    _p("yandex_iam_token", r"t1\.[A-Z0-9a-z_-]+[=]{0,2}\.[A-Z0-9a-z_-]{86}[=]{0,2}" + _END),
    _p("supabase_token", r"sbp_[a-f0-9]{40}" + _END, r"sb_secret_[A-Za-z0-9_-]{31,40}" + _END),
    _p("planetscale_token", r"pscale_(?:tkn|oauth|pw)_[A-Za-z0-9=._-]{32,64}" + _END),
    _p("render_api_key", r"rnd_[A-Za-z0-9]{32}" + _END),
    _p("vercel_token", r"vc[pkiar]_[A-Za-z0-9]{56}" + _END),
    _p("databricks_token", r"dapi[a-f0-9]{32}(?:-\d)?" + _END),
    _p("tailscale_key", r"tskey-(?:api|auth|client|webhook|scim)-[A-Za-z0-9]{6,}-[A-Za-z0-9]{20,}" + _END),
    _p("defined_networking_key", r"dnkey-[a-z0-9=_-]{26}-[a-z0-9=_-]{52}" + _END),
    # --- AI providers
    _p(
        "openai_api_key",
        r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,}" + _END,
    ),
    _p("anthropic_api_key", r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,110}" + _END),
    _p("huggingface_token", r"hf_[A-Za-z]{34}" + _END, validate="entropy"),
    _p("huggingface_org_token", r"api_org_[A-Za-z]{34}" + _END, validate="entropy"),
    _p("groq_api_key", r"gsk_[A-Za-z0-9]{52}" + _END),
    _p("perplexity_api_key", r"pplx-[A-Za-z0-9]{48}" + _END),
    _p("replicate_api_token", r"r8_[A-Za-z0-9]{37}" + _END),
    _p("xai_api_key", r"xai-[A-Za-z0-9]{80}" + _END),
    _p("langsmith_api_key", r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}" + _END),
    # --- communication, webhooks
    _p(
        "slack_token",
        r"xox[baprse]-[0-9]{10,13}-[0-9A-Za-z-]{10,}",
        r"xapp-\d-[A-Z0-9]{9,12}-\d{10,13}-[a-z0-9]{64}",
    ),
    SecretRule(
        "slack_webhook",
        (r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{30,120}",),
    ),
    SecretRule(
        "discord_webhook",
        (r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68}",),
    ),
    _p(
        "discord_bot_token",
        r"M[A-Za-z0-9]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}" + _END,
        r"N[A-Za-z0-9]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}" + _END,
    ),
    SecretRule(
        "microsoft_teams_webhook",
        (
            r"https://[a-z0-9-]+\.webhook\.office\.com/webhookb2/"
            + _UUID
            + "@"
            + _UUID
            + r"/IncomingWebhook/[A-Za-z0-9]{32}/"
            + _UUID,
        ),
    ),  # fmt: skip
    SecretRule("zapier_webhook", (r"https://hooks\.zapier\.com/hooks/catch/\d{5,10}/[a-z0-9]{5,10}",)),
    _kw("telegram_bot_token", ["telegram", "tg_?bot", "bot_?token"], r"[0-9]{8,10}:AA[0-9A-Za-z_-]{33}", ""),
    _p("twilio_api_key", r"SK[0-9a-f]{32}" + _END),
    _p("sendgrid_api_key", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}" + _END),
    _p("sendinblue_api_key", r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}" + _END),
    _p("mailgun_api_key", r"key-[a-f0-9]{32}" + _END, r"pubkey-[a-f0-9]{32}" + _END),
    _kw("mailchimp_api_key", ["mailchimp", "mc_?api"], r"[0-9a-f]{32}-us[0-9]{1,2}", ""),
    _p("telnyx_api_key", r"KEY[0-9A-F]{32}_[A-Za-z0-9]{22}" + _END),
    _p("linear_api_key", r"lin_api_[A-Za-z0-9]{40}" + _END),
    _p("notion_token", r"ntn_[0-9]{11}[A-Za-z0-9]{35}" + _END),
    _p("hubspot_private_app_token", r"pat-(?:na|eu)1-" + _UUID + _END),
    _p("typeform_token", r"tfp_[A-Za-z0-9_.=-]{59}" + _END),
    _p("contentful_token", r"CFPAT-[A-Za-z0-9_-]{43}" + _END),
    _p("frameio_token", r"fio-u-[A-Za-z0-9_=-]{64}" + _END),
    _p("twitter_bearer_token", r"AAAAAAAAAAAAAAAAAAAAA[A-Za-z0-9%]{30,}" + _END),
    _p("facebook_access_token", r"EAA[A-Za-z0-9]{90,}" + _END),
    _p("mapbox_secret_token", r"sk\.eyJ[A-Za-z0-9_-]{50,}\.[A-Za-z0-9_-]{20,}" + _END),
    _p("adobe_client_secret", r"p8e-[A-Za-z0-9_-]{32}" + _END),
    # --- payments, commerce
    _p(
        "stripe_key",
        r"sk_(?:live|test)_[0-9a-zA-Z]{24,99}" + _END,
        r"rk_(?:live|test)_[0-9a-zA-Z]{24,99}" + _END,
        r"whsec_[A-Za-z0-9]{32,}" + _END,
    ),
    _p("square_token", r"EAAA[A-Za-z0-9_-]{60}" + _END, r"sq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}" + _END),
    _p("shopify_token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}" + _END),
    _p("shippo_api_token", r"shippo_(?:live|test)_[a-f0-9]{40}" + _END),
    _p("easypost_api_key", r"EZ[AT]K[A-Za-z0-9]{54}" + _END),
    _p(
        "flutterwave_key",
        r"FLWSECK(?:_TEST)?-[a-h0-9]{32}-X" + _END,
        r"FLWPUBK(?:_TEST)?-[a-h0-9]{32}-X" + _END,
    ),
    _p("duffel_api_token", r"duffel_(?:test|live)_[A-Za-z0-9_=-]{43}" + _END),
    _p("plaid_access_token", r"access-(?:sandbox|development|production)-" + _UUID + _END),
    _p("braintree_access_token", r"access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}" + _END),
    # --- observability, data
    _p(
        "new_relic_key",
        r"NRAK-[A-Z0-9]{27}" + _END,
        r"NRJS-[a-f0-9]{19}" + _END,
        r"NRII-[A-Za-z0-9_-]{32}" + _END,
    ),
    _p("dynatrace_token", r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}" + _END),
    _p(
        "grafana_token",
        r"glc_[A-Za-z0-9+/]{32,400}={0,2}",
        r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}" + _END,
        r"eyJrIjoi[A-Za-z0-9]{70,400}={0,2}",
    ),
    _p("sentry_token", r"sntryu_[a-f0-9]{64}" + _END, r"sntrys_eyJpYXQiO[A-Za-z0-9+/=_]{60,}"),
    _p("intra42_client_secret", r"s-s4t2(?:ud|af)-[a-f0-9]{64}" + _END),
    _kw("datadog_api_key", ["datadog", "dd_?api", "dd_?app"], r"[a-f0-9]{32}(?:[a-f0-9]{8})?"),
    _kw("heroku_api_key_legacy", ["heroku"], _UUID, ""),
    _kw("cloudflare_api_token", ["cloudflare", "cf_?api"], r"[A-Za-z0-9_-]{40}|[a-f0-9]{37}"),
    _kw("algolia_api_key", ["algolia"], r"[a-f0-9]{32}"),
    _kw("okta_api_token", ["okta"], r"00[A-Za-z0-9_-]{40}"),
    _kw("pagerduty_api_key", ["pagerduty", "pd_?api"], r"u\+[A-Za-z0-9_+-]{18}|[A-Za-z0-9_+-]{20}"),
    # --- keys and generic token formats
    _p("age_secret_key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}" + _END),
    _p("putty_private_key", r"PuTTY-User-Key-File-[23]: [a-z0-9-]+"),
)
