"""social.coop's Pulumi components: one component per module, pure renderers beside them."""
