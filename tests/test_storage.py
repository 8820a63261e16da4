"""Object storage: Spaces buckets, the per-stack scoped key, the S3 settings block, validation."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.core.protection import Protection
from components.storage.bucket import SpacesBucket, SpacesBucketArgs
from components.storage.key import SpacesKey, SpacesKeyArgs
from components.storage.models import Bucket
from components.storage.settings import NO_MEDIA_BUCKET, NO_STORAGE, backup_targets, mastodon_s3_env
from tests.conftest import key, stack_doc
from tools.review.plan import render_tree, to_json

BUCKET = "digitalocean:index/spacesBucket:SpacesBucket"
CORS = "digitalocean:index/spacesBucketCorsConfiguration:SpacesBucketCorsConfiguration"
KEY = "digitalocean:index/spacesKey:SpacesKey"
FAKE_SECRET = "mock-secret-key-not-real"  # what tools.review.plan's mocks answer for secretKey

MEDIA = Bucket(
    region="fra1",
    mastodon=True,
    backups_prefix="backups/",
    backup_expire_days=14,
    versioning=False,
    noncurrent_expire_days=None,
    cors_origins=("https://example.social",),
    alias_host=None,
).named("test-media")


def storage(c: dict) -> dict:
    return c[key("storage")]


def only_bucket(c: dict) -> dict:
    (b,) = storage(c)["buckets"].values()
    return b


def rename_bucket(new_name):
    def mutate(c):
        buckets = storage(c)["buckets"]
        (old,) = list(buckets)
        buckets[new_name] = buckets.pop(old)

    return mutate


def of_type(plan, typ):
    return [r for r in plan.resources if r.type == typ]


# --------------------------------------------------------------------------- pure rendering


def test_mastodon_s3_block_exact_text():
    assert mastodon_s3_env("prod", MEDIA, "AKEXAMPLE", "fake-secret") == (
        "# Object storage: pulumi stack output -s prod --show-secrets mastodon_s3\n"
        "S3_ENABLED=true\n"
        "S3_BUCKET=test-media\n"
        "S3_REGION=fra1\n"
        "S3_ENDPOINT=https://fra1.digitaloceanspaces.com\n"
        "S3_HOSTNAME=fra1.digitaloceanspaces.com\n"
        "AWS_ACCESS_KEY_ID=AKEXAMPLE\n"
        "AWS_SECRET_ACCESS_KEY=fake-secret\n"
    )


def test_mastodon_s3_block_has_alias_host_only_when_configured():
    text = mastodon_s3_env("prod", MEDIA.model_copy(update={"alias_host": "files.example.social"}), "A", "S")
    assert "S3_HOSTNAME=fra1.digitaloceanspaces.com\nS3_ALIAS_HOST=files.example.social\nAWS_" in text
    assert "S3_ALIAS_HOST" not in mastodon_s3_env("prod", MEDIA, "A", "S")


def test_backup_targets_prod_only_the_mastodon_host(load_config):
    # pando (mastodon_staging) is alpha's machine: it must not be pointed at prod's bucket.
    assert backup_targets(load_config("prod")) == {
        "rhizome": {
            "url": "s3://social-coop-media/backups/rhizome/",
            "endpoint": "https://ams3.digitaloceanspaces.com",
            "expire_days": 30,
        }
    }


def test_backup_targets_alpha_and_renamed_host(load_config):
    targets = backup_targets(load_config("alpha"))
    assert targets == {
        "alpha": {
            "url": "s3://alpha-social-coop-media/backups/alpha/",
            "endpoint": "https://ams3.digitaloceanspaces.com",
            "expire_days": 7,
        }
    }

    def rename(c):
        c[key("hosts")]["staging"] = {**c[key("hosts")].pop("alpha"), "fqdn": "staging.alpha.social.coop"}
        c[key("dns")]["records"]["alpha"] = [{"type": "A", "host": "staging"}]

    # A renamed host writes under its new name; the lifecycle rule covers the whole prefix.
    assert backup_targets(load_config("alpha", rename))["staging"]["url"] == (
        "s3://alpha-social-coop-media/backups/staging/"
    )


# --------------------------------------------------------------------------- components


@pulumi.runtime.test
def test_alpha_bucket_is_private_disposable_and_unprotected(pulumi_mocks, captured_options):
    b = SpacesBucket(
        "media", SpacesBucketArgs(MEDIA, environment="alpha", protection=Protection(protect=False))
    )

    def check(args):
        name, endpoint = args
        assert (name, endpoint) == ("test-media", "https://fra1.digitaloceanspaces.com")
        inputs = pulumi_mocks.resources[(BUCKET, "media-bucket")].inputs
        assert inputs["acl"] == "private"
        assert inputs["region"] == "fra1"
        assert inputs["forceDestroy"] is True
        assert inputs["versioning"] == {"enabled": False}
        assert inputs["lifecycleRules"] == [
            {"enabled": True, "prefix": "backups/", "expiration": {"days": 14}}
        ]
        opts = captured_options["media-bucket"]
        assert not opts.protect and not opts.retain_on_delete and opts.import_ is None

    return pulumi.Output.all(b.bucket_name, b.endpoint).apply(check)


@pulumi.runtime.test
def test_prod_bucket_is_adopted_protected_and_never_force_destroyed(pulumi_mocks, captured_options):
    adopted = MEDIA.model_copy(update={"import_id": "fra1,test-media"})
    b = SpacesBucket(
        "media", SpacesBucketArgs(adopted, environment="prod", protection=Protection(protect=True))
    )

    def check(_):
        assert pulumi_mocks.resources[(BUCKET, "media-bucket")].inputs["forceDestroy"] is False
        opts = captured_options["media-bucket"]
        assert opts.protect and opts.retain_on_delete
        assert opts.import_ == "fra1,test-media"
        # The live CORS rules are adopted with the bucket (created, they would be overwritten
        # silently); configuration, so not protected, but kept in DigitalOcean if removed.
        cors = captured_options["media-cors"]
        assert not cors.protect and cors.retain_on_delete
        assert cors.import_ == "fra1,test-media"

    return b.bucket_name.apply(check)


@pulumi.runtime.test
def test_versioned_bucket_expires_noncurrent_versions(pulumi_mocks):
    versioned = MEDIA.model_copy(update={"versioning": True, "noncurrent_expire_days": 5})
    b = SpacesBucket(
        "media", SpacesBucketArgs(versioned, environment="alpha", protection=Protection(protect=False))
    )

    def check(_):
        inputs = pulumi_mocks.resources[(BUCKET, "media-bucket")].inputs
        assert inputs["versioning"] == {"enabled": True}
        assert inputs["lifecycleRules"] == [
            {"enabled": True, "prefix": "backups/", "expiration": {"days": 14}},
            {"enabled": True, "noncurrentVersionExpiration": {"days": 5}},
        ]

    return b.bucket_name.apply(check)


@pulumi.runtime.test
def test_key_grants_readwrite_on_given_buckets_and_hides_secret(pulumi_mocks, captured_options):
    k = SpacesKey(
        "storage",
        SpacesKeyArgs(
            "socialcoop-infra-test", ["one-bucket", "two-bucket"], protection=Protection(protect=True)
        ),
    )

    def check(args):
        access_key, is_secret = args
        assert access_key.startswith("MOCKACCESSKEY")
        assert is_secret
        inputs = pulumi_mocks.resources[(KEY, "storage-key")].inputs
        assert inputs["name"] == "socialcoop-infra-test"
        assert inputs["grants"] == [
            {"bucket": "one-bucket", "permission": "readwrite"},
            {"bucket": "two-bucket", "permission": "readwrite"},
        ]
        assert captured_options["storage-key"].protect

    return pulumi.Output.all(k.access_key, k.secret_key.is_secret()).apply(check)


def test_key_without_buckets_is_refused(pulumi_mocks):
    with pytest.raises(ValueError, match="at least one bucket"):
        SpacesKey("storage", SpacesKeyArgs("socialcoop-infra-test", [], protection=Protection(protect=False)))


# --------------------------------------------------------------------------- whole stacks


@pytest.mark.parametrize(
    ("stack", "bucket", "origin"),
    [
        ("prod", "social-coop-media", "https://social.coop"),
        ("alpha", "alpha-social-coop-media", "https://alpha.social.coop"),
    ],
)
def test_stack_bucket_cors_and_key(plan, stack, bucket, origin):
    p = plan(stack)
    (b,) = of_type(p, BUCKET)
    assert b.inputs["name"] == bucket and b.inputs["acl"] == "private"
    assert b.inputs["forceDestroy"] is (stack == "alpha")
    (cors,) = of_type(p, CORS)
    assert cors.inputs["bucket"] == bucket and cors.parent == bucket
    assert [(r["allowedOrigins"], r["allowedMethods"]) for r in cors.inputs["corsRules"]] == [
        ([origin], ["GET", "HEAD"])
    ]
    (k,) = of_type(p, KEY)
    assert k.inputs["grants"] == [{"bucket": bucket, "permission": "readwrite"}]


def test_prod_bucket_options_in_plan(plan):
    (b,) = of_type(plan("prod"), BUCKET)
    assert b.options["import"] == "ams3,social-coop-media"
    assert b.options["protect"] and b.options["retain_on_delete"]


def test_alpha_bucket_options_in_plan(plan):
    (b,) = of_type(plan("alpha"), BUCKET)
    assert b.options == {
        "protect": False,
        "retain_on_delete": False,
        "import": None,
        "ignore_changes": [],
        "delete_before_replace": False,
    }


def test_mastodon_s3_output_is_secret_and_never_in_plan_json(plan):
    p = plan("prod")
    assert "mastodon_s3" in p.secret_outputs
    block = p.outputs["mastodon_s3"]
    assert "S3_BUCKET=social-coop-media\n" in block
    assert f"AWS_SECRET_ACCESS_KEY={FAKE_SECRET}\n" in block  # the value exists ...
    assert FAKE_SECRET not in json.dumps(to_json(p), default=str)  # ... but is never shown
    assert FAKE_SECRET not in render_tree(p)
    assert p.outputs["backup_target"]["rhizome"]["url"] == "s3://social-coop-media/backups/rhizome/"


def test_alpha_without_storage_declares_no_bucket_and_says_so(plan):
    p = plan("alpha", lambda c: c.pop(key("storage")))
    assert [r.type for r in p.resources if r.type.startswith(("digitalocean:", "socialcoop:storage:"))] == []
    assert p.outputs["mastodon_s3"] == NO_STORAGE
    assert p.outputs["backup_target"] == NO_STORAGE


def test_bucket_without_mastodon_flag_gives_no_s3_block(plan):
    p = plan("alpha", lambda c: only_bucket(c).update(mastodon=False))
    assert len(of_type(p, BUCKET)) == 1
    assert p.outputs["mastodon_s3"] == NO_MEDIA_BUCKET


def test_committed_stacks_bucket_names_are_disjoint_and_each_on_its_side():
    prod, alpha = (stack_doc(s)["config"][key("storage")] for s in ("prod", "alpha"))
    assert set(prod["buckets"]).isdisjoint(alpha["buckets"])
    assert all(b.startswith("alpha-") for b in alpha["buckets"])
    assert not any(b.startswith("alpha-") for b in prod["buckets"])


# --------------------------------------------------------------------------- validation

NAME_RULE = "3-63 characters of lowercase letters, digits and single hyphens"


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "Alpha-Media", "192.168.10.1", "-alpha-media", "alpha--media", "alpha_media"],
    ids=["too-short", "too-long", "uppercase", "ip-shaped", "leading-hyphen", "double-hyphen", "underscore"],
)
def test_bad_bucket_names(config_error, name):
    err = config_error("alpha", rename_bucket(name))
    assert err.path == f"storage.buckets.{name}"
    assert NAME_RULE in err.allowed and "not shaped like an IP address" in err.allowed


def test_longest_and_shortest_names_pass(load_config):
    longest = "alpha-" + "a" * 57  # alpha's bucket names start with alpha- (components/core/boundary.py)
    assert load_config("alpha", rename_bucket(longest)).storage.buckets[longest].name == longest

    def shortest(c):
        rename_bucket("a1b")(c)
        only_bucket(c).pop("import")

    assert load_config("prod", shortest).storage.buckets["a1b"].name == "a1b"


@pytest.mark.parametrize("region", ["ams9", "us-east-1", "AMS3"])
def test_bad_region(config_error, region):
    err = config_error("alpha", lambda c: storage(c).update(region=region))
    assert err.path == "storage.region"
    assert err.allowed.startswith("allowed: ") and "ams3" in err.allowed and "fra1" in err.allowed


def test_bad_bucket_region(config_error):
    err = config_error("alpha", lambda c: only_bucket(c).update(region="lon1"))
    assert err.path == "storage.buckets.alpha-social-coop-media.region"


@pytest.mark.parametrize("days", [0, -5])
def test_backup_days_must_be_positive(config_error, days):
    err = config_error("alpha", lambda c: only_bucket(c).update(backup_expire_days=days))
    assert err.path == "storage.buckets.alpha-social-coop-media.backup_expire_days"
    assert "positive number of days" in err.allowed


@pytest.mark.parametrize("days", [0, -1])
def test_noncurrent_days_must_be_positive(config_error, days):
    err = config_error("alpha", lambda c: only_bucket(c).update(versioning=True, noncurrent_expire_days=days))
    assert err.path == "storage.buckets.alpha-social-coop-media.noncurrent_expire_days"
    assert "positive number of days" in err.allowed


def test_noncurrent_days_need_versioning(config_error):
    err = config_error("alpha", lambda c: only_bucket(c).update(noncurrent_expire_days=3))
    assert "versioning: true" in err.allowed


def test_alpha_bucket_named_like_prods(config_error):
    err = config_error("alpha", rename_bucket("social-coop-media"))
    assert err.path == "storage.buckets.social-coop-media"
    assert "alpha's bucket names start with alpha-" in err.allowed


def test_prod_bucket_named_like_alphas(config_error):
    def mutate(c):
        rename_bucket("alpha-social-coop-media")(c)
        only_bucket(c).pop("import")

    err = config_error("prod", mutate)
    assert "are the alpha stack's" in err.allowed


def test_alpha_may_not_adopt_a_bucket(config_error):
    err = config_error("alpha", lambda c: only_bucket(c).update({"import": "ams3,alpha-social-coop-media"}))
    assert err.path == "storage.buckets.alpha-social-coop-media.import"
    assert "only prod adopts" in err.allowed


def test_import_id_must_match_region_and_name(config_error):
    err = config_error("prod", lambda c: only_bucket(c).update({"import": "fra1,social-coop-media"}))
    assert err.allowed == "must be ams3,social-coop-media"


def test_storage_needs_a_bucket(config_error):
    err = config_error("alpha", lambda c: storage(c).update(buckets={}))
    assert err.path == "storage.buckets" and "omit storage" in err.allowed


def test_only_one_backups_bucket(config_error):
    def mutate(c):
        storage(c)["buckets"]["alpha-social-coop-extra"] = {
            "backups_prefix": "dumps/",
            "backup_expire_days": 3,
        }

    err = config_error("alpha", mutate)
    assert err.path == "storage.buckets" and "at most one bucket may have backups_prefix" in err.allowed


def test_unknown_bucket_key(config_error):
    err = config_error("alpha", lambda c: only_bucket(c).update(force_destroy=True))
    assert err.path == "storage.buckets.alpha-social-coop-media.force_destroy"
    assert err.allowed.startswith("unknown key")
