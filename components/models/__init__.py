"""The stack-file models: one module per domain (hosts, dns, mail, storage) and ``stack``
for the top level. The loader (components/config.py) validates a stack's config into
them; they generate schema/stack.schema.json (editors), Pulumi.yaml's `config:` block and
docs/config.md (``python -m tools.schema --write``). What follows, down to the end of this
docstring, is the opening of docs/config.md.

Every setting the program reads, with its type, default and allowed values. This page is
generated from the stack-file models (`components/models/`, one module per domain) by
`python -m tools.schema --write`: each key's row from its field, each section's text from
its model, the examples from `docs/examples/` (the tests load each one, check it against
the schema and that together they use every key). To add a key, add it to its model, use it
in `docs/examples/prod-complete.yaml`, and run `python -m tools.schema --write`.

## In your editor

The models generate a JSON Schema, `schema/stack.schema.json`, and the first line of each
stack file points at it (`# yaml-language-server: $schema=./schema/stack.schema.json`). VS Code
with the Red Hat YAML extension, and neovim or any editor using `yaml-language-server`, then
complete keys and mark wrong types, unknown keys, values outside a list (server types,
regions) and provider credentials as you type. The schema checks one value at a time; rules
that compare values or parse them (addresses, SSH keys, prod/alpha ownership, sizes) are the
loader's: run `python -m tools.plan <stack>` before committing.

## Where config lives

- `Pulumi.yaml` **declares** the top-level keys (its `config:` block is written from the models
  by `python -m tools.schema --write`), with their type, a description and, for every
  key a stack file may leave out, a default (the Pulumi CLI refuses to start a preview when a
  declared key has neither a default nor a value in the stack file). The loader knows which
  keys the stack file itself sets (the plan reads the file; under `pulumi preview` the loader
  reads `Pulumi.<stack>.yaml`, or the file `$SOCIALCOOP_STACK_FILE` names), so these defaults
  stand in only for keys the file leaves out.
- `Pulumi.prod.yaml` and `Pulumi.alpha.yaml` hold the **values**. Every key is written with
  the project's namespace: `socialcoop-infra:hosts`, never a bare `hosts` (Pulumi refuses that).
  A stack file holds no provider settings (`hcloud:`, `cloudflare:`, `digitalocean:`, `command:`,
  `pulumi:` keys): an endpoint such as `hcloud:endpoint` or `cloudflare:baseUrl` would send the
  stack's token to another host, unseen in the plan. The plan and the program refuse every one
  (under `pulumi preview`/`up` also any key of another namespace, from the stack file or from
  `$PULUMI_CONFIG`); the allowlist `PROVIDER_SETTINGS` in `components/models/stack.py` is empty,
  and a setting added there, with its reason, is shown at the top of every offline plan.
- Check a change before committing it: `python -m tools.plan alpha` (or
  `python -m tools.plan prod --config /path/to/Pulumi.prod.yaml` for a file outside the repo).

A mistake stops everything before any resource is declared, with one line:

```
error: Pulumi.prod.yaml: socialcoop-infra:hosts.hypha.hetzner_cloud.server_typ = "cx22": unknown key; allowed here: backups, extra_ports, image, import, location, server_type, volume
```

that is: the file, the **key path**, the value you wrote, and what is allowed. The paths in
the tables below are written the same way, with `<name>` for a name you choose (a host, a DNS
name, a sender, a bucket) and `[]` for "each item of the list". So the error path
`hosts.hypha.hetzner_cloud.extra_ports[0].port` is documented as
`hosts.<name>.hetzner_cloud.extra_ports[].port`.

Rules that hold everywhere:

- **The file is read safely**: it must be UTF-8 text; nesting is limited to 40 levels and
  aliases (`*name`) to 100,000 values once expanded; keys are text (quote `true`, `1` or `~`
  when you mean them as names); only the types JSON has are accepted (a date such as
  `2024-01-01`, `.inf`, `!!binary` or `!!int` is refused: quote it or drop the tag). Anchors,
  aliases and merge keys (`<<: *defaults`) work.
- **Unquoted values are read as the Pulumi CLI reads them** (yaml.v3, YAML 1.2 rules), not as
  YAML 1.1: `yes`, `no`, `on`, `off`, `y` and `n` are text (so `adopting: no` is refused: write
  `false`); only `true`/`True`/`TRUE` and `false`/`False`/`FALSE` are booleans; `22:22` is
  text (not the base-60 number 1342); `0777` and `0o777` are octal, `0x1F` hex, `0b1` binary,
  `1_000` is 1000, `1e3` a number; a number too big for 64 bits is text.
- Under `pulumi preview` the Pulumi CLI reads the stack file itself (Go, `gopkg.in/yaml.v3`)
  and hands the program JSON, which the same loader checks. From yaml.v3's source: it refuses
  invalid UTF-8, nesting over 10,000 levels ("exceeded max depth") and alias bombs ("excessive
  aliasing"), and supports merge keys; unlike the plan it accepts UTF-16 with a byte-order
  mark, and passes a number too big for 64 bits on as text, which the loader then refuses
  ("expected a whole number"). Run `python -m tools.plan <stack>` first: it is the stricter
  reader, and shows the line.
- **The two stacks stay apart**: the stack named `prod` reads a file with `environment: prod`
  and `alpha` one with `environment: alpha` (no other stack runs); alpha never protects or
  imports anything (`import`, `hcloud_import`, `import_id`, `dns.imports` are prod's).
  See "The boundary between the stacks" below.
- **Provider credentials never go in a stack file** (`hcloud:token`, `cloudflare:apiToken`,
  `digitalocean:token`, `digitalocean:spacesSecretKey`...), not even encrypted: export them from
  `pass` before running pulumi (README, [ci.md](ci.md)). The error says which command.
- **Addresses are public**: an IPv4/IPv6 in a host or record is written as text and may not be
  loopback, private, link-local, multicast, CGNAT, reserved, IPv4-mapped or carry a scope ID;
  the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are
  allowed as placeholders.
- **Text is one printable line**: comments (SSH key comments, record comments, reasons) may not
  hold control characters, ANSI escapes, line separators or direction overrides. Every value
  that ends up in a file on a host, a shell command or a config line is checked for what it
  must be (an SSH key is parsed whole and kept as `<type> <key> <comment>`), and the code that
  writes those files refuses a control character again rather than write a second line.
- **Every free-text value has a limit**, given in its row below, taken from what consumes it
  (Cloudflare's 100-character record comment, nftables' 128-byte rule comment, Debian's
  32-character user names, S3's 1,024-byte keys...). Text is never empty: leave the key out.
- **Domain names have one form**: lower case, no trailing dot (`domain`, `instance_domain`,
  `fqdn`, `alias_host`, name servers, CA domains, CORS origins and record names are kept so,
  record targets compared and written so). `rhizome.social.coop.` and `rhizome.social.coop` are the same host, `WWW` and
  `www` the same record name. A domain name has at most 253 characters, each label 1 to 63.

- **Unknown keys are errors**, at every level: a typo never passes silently.
- **A key that is present holds a value of its type.** Only a key that is left out, or set to
  nothing (`key:` with no value), takes its default. `adopting: []`, `domain: ''`,
  `instance_domain: ''`, `hcloud_import: ''` or `comment: ''` are refused, never read as "not
  set".
- `pulumi config set` stores plain values as text; `"true"`/`"false"` and whole numbers such as
  `"300"` are read as the boolean or number they spell.
- **Secrets**: `bootstrap_ssh_key` and the values of `ansible.secret_vars` are secrets, and
  must be (set them with `pulumi config set --secret bootstrap_ssh_key < key-file` and
  `pulumi config set --secret --path 'ansible.secret_vars.<name>' <value>`; the stack file then
  holds `secure: v1:...`). A `secure:` value anywhere else is refused, because the program would
  store it in plain text. Error messages never show a secret; the offline plan shows it as
  `[secret]` (it cannot decrypt it). Nor do they show more than the first few characters of
  anything shaped like a token (`dop_v1_...`, `glpat-...`, `ghp_...`, a long random string), or
  more than the `-----BEGIN` line of a private key: a private key pasted where a public key
  belongs is refused as what it is, and is compromised once pushed (make a new one).
  Import IDs and zone IDs are not secrets: the plan prints them for review.
- Names of hosts, senders, providers and subdomains are DNS labels: lowercase letters,
  digits and `-`, not starting or ending with `-`, at most 63 characters. User names (admins,
  `bootstrap_user`, `ansible.user`) start with a letter and have at most 32 characters.
- TTLs are `1` (Cloudflare's "automatic") or 60 to 86400 seconds.
- Provider-specific choices (Hetzner server types and locations, Spaces regions) are data, in
  `data/providers.yaml`: add a new one there.

## The boundary between the stacks

What each stack owns is **not in a stack file**: no edit of `Pulumi.alpha.yaml` or
`Pulumi.prod.yaml` alone can move it. It is fixed in one place, `components/boundary.py`, which
the loader and the policy pack (`policy/`) both read:

- the zone, `social.coop`, and the two stacks, `prod` and `alpha`;
- **DNS and host names**: alpha owns `alpha.social.coop` and every name under it, prod the rest.
  Every name a stack gives counts: records (the generated mail records too), each host's `fqdn`
  (which is also its reverse DNS), `instance_domain`, a bucket's `alias_host`;
- **buckets**: alpha's bucket names start with `alpha-`, prod's never do;
- and, read from **the other stack's committed file** (the one at the repository's root, also
  when you plan a file elsewhere with `--config`): a stack may not declare a bucket or a host
  name (`hosts.<name>`, which also names the Hetzner server, firewall and addresses) that the
  other file declares, nor give a name it gives, nor **bootstrap** (`vps.bootstrap: true`) a
  machine it declares, by address or by SSH host key. A machine both files declare is prod's;
- **machines**: of prod's machines alpha may run on only those `ALPHA_RUNS_ON` names (`pando`):
  it points its names and its playbook at pando's addresses, but never bootstraps it. An alpha
  host at any other address or host key that prod's file declares (rhizome's) is refused.
  What the files cannot show: a prod machine whose address only Hetzner knows (hypha). alpha
  bootstrapping it is stopped by the credentials, not by a rule here: alpha's
  `bootstrap_ssh_key` is alpha's own and is authorized on no prod host (keep it so).

The keys that used to hold the boundary, `domain`, `dns.owned_subdomain`,
`dns.reserved_subdomains` and `storage.other_stack_buckets`, are refused ("no longer read").
To change the boundary on purpose (another zone, a second alpha subdomain, another prefix), change
`components/boundary.py` in a merge request of its own: the reviewer sees it in the diff, the
offline plans of both stacks in the same pipeline show what it moves ([ci.md](ci.md)).
"""
