/**
 * The embedded default policy, used when the operator starts without
 * --policy: every tenant belongs to the operator's user, tenants are created
 * on demand (`switchboard run --tenant NAME`), every tenant may listen
 * anywhere, connect to every other, and reach programs off the circuit
 * network (through the proxy stack).  So a first run needs no
 * configuration, and only that user can reach the tenant sockets.
 */
export const DEFAULT_POLICY_SOURCE = 'embedded default';

export const DEFAULT_POLICY_YAML = `# switchboard's embedded default policy
version: 1
tenants_on_demand: true
tenants:
  - name: default
listen:
  - name: anywhere
    tenant: "*"
    ports: any
connect:
  - name: same-user
    from: "*"
    to: { tenant: "*" }
    action: allow
  - name: outside
    from: "*"
    to: { external: true }
    action: allow
defaults:
  connect: deny
`;
