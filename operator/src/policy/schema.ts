/**
 * The policy file's schema (JSON Schema, checked with ajv).  Its
 * `description`s are what an error says a field should be, so keep them
 * short and concrete.  docs/operator.md documents the same format with examples.
 */
const name = {
  type: 'string',
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$',
  description: 'a name of letters, digits, "_", "." and "-" (at most 63)',
};
const tenantRef = {
  type: 'string',
  pattern: '^(\\*|[A-Za-z0-9][A-Za-z0-9_.-]{0,62})$',
  description: 'a tenant name or "*"',
};
const port = { type: 'integer', minimum: 1, maximum: 65535, description: 'a port number 1..65535' };
const portRange = {
  type: 'string',
  pattern: '^(any|[0-9]{1,5}(-[0-9]{1,5})?)$',
  description: 'a port, a range "LO-HI" or "any"',
};
const ports = {
  description: 'a port, a range "LO-HI", "any", or a list of ports and ranges',
  anyOf: [port, portRange, { type: 'array', minItems: 1, items: { anyOf: [port, portRange] } }],
};
const ipOrCidr = { type: 'string', minLength: 1, description: 'an IP address or CIDR range such as 10.0.0.0/8' };
const socketType = { type: 'string', enum: ['stream', 'dgram', 'any'], description: 'stream, dgram or any' };
const errnoName = {
  type: 'string',
  enum: ['EPERM', 'ECONNREFUSED'],
  description: 'EPERM (a local firewall drop) or ECONNREFUSED (a firewall reject)',
};

export const POLICY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['version'],
  properties: {
    version: { type: 'integer', const: 1, description: 'the policy format version, 1' },
    tenants_on_demand: {
      type: 'boolean',
      description: 'true lets `switchboard run --tenant NAME` create tenants of the operator\'s user',
    },
    tenants: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name,
          uid: { type: 'integer', minimum: 0, description: 'the user that may reach the tenant socket' },
          gid: { type: 'integer', minimum: 0, description: 'the group that owns the tenant socket' },
          mode: {
            type: 'string',
            enum: ['0600', '0660'],
            description: '"0600" (the user only) or "0660" (the user and the group)',
          },
          addresses: { type: 'array', items: ipOrCidr, description: 'the IP addresses of this tenant on the circuit network' },
        },
      },
    },
    listen: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['tenant', 'ports'],
        properties: { name, tenant: tenantRef, ports, address: ipOrCidr, type: socketType },
      },
    },
    connect: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to', 'action'],
        properties: {
          name,
          from: tenantRef,
          to: {
            type: 'object',
            additionalProperties: false,
            description: 'a destination: tenant, ports, address, external, type',
            properties: {
              tenant: {
                type: 'string',
                pattern: '^(\\*|self|[A-Za-z0-9][A-Za-z0-9_.-]{0,62})$',
                description: 'a tenant name, "self" or "*"',
              },
              ports,
              address: ipOrCidr,
              external: { type: 'boolean', description: 'true for programs off the circuit network' },
              type: socketType,
            },
          },
          action: { type: 'string', enum: ['allow', 'deny'], description: 'allow or deny' },
          errno: errnoName,
        },
      },
    },
    publish: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['host_port', 'tenant', 'port'],
        properties: {
          name,
          host_address: ipOrCidr,
          host_port: port,
          tenant: name,
          port,
          type: { type: 'string', enum: ['stream', 'dgram'], description: 'stream or dgram' },
        },
      },
    },
    defaults: {
      type: 'object',
      additionalProperties: false,
      properties: {
        connect: { type: 'string', enum: ['allow', 'deny'], description: 'allow or deny' },
        errno: errnoName,
      },
    },
  },
} as const;
