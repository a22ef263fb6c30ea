/**
 * The files `bluegreen init` writes: a commented first plan per provider and a README for each
 * migration directory. Plain text on purpose: the comments are the point, and a YAML library
 * would drop them.
 */
export type InitProvider = 'aws-elbv2' | 'haproxy' | 'nginx'
export const initProviders: readonly InitProvider[] = ['aws-elbv2', 'haproxy', 'nginx']

export interface PlanTemplateInput {
  provider: InitProvider
  app: string
  /** Filled from --listener-arn by describing the listener; otherwise variables. */
  aws?: { region: string; listenerArn: string; blue: string; green: string; endpoint?: string }
}

const header = (
  input: PlanTemplateInput,
) => `# The release plan of ${input.app}, written by \`bluegreen init --provider ${input.provider}\`.
#
#   bluegreen plan validate                          # check it (file:line:col and a hint per error)
#   bluegreen release --dry-run --version 1.0.0      # what a release would do, step by step
#   bluegreen plan schema                            # every key, as JSON Schema
#
# Commands find this file as ./bluegreen.yaml (or --plan FILE, or $BLUEGREEN_PLAN).
# \${VAR} is read from the environment when the plan is loaded: an unset one is an error that
# names it, \${VAR:-default} gives a default. {{pool}} (blue or green), {{version}}, {{app}} and
# {{host}} are filled at run time. Relative paths are resolved against this file's directory.

app: ${input.app}

database:
  # The application's PostgreSQL. Migrations run here, and the journal (releases, steps, the
  # contract ledger, the audit log) lives in its schema \`bluegreen\`. A rollback does not need
  # it: with DATABASE_URL unset or the database down, its journal entry is spooled locally.
  url: \${DATABASE_URL}
`

function loadBalancer(input: PlanTemplateInput): string {
  if (input.provider === 'aws-elbv2') {
    const aws = input.aws
    return `
loadBalancer:
  provider: aws-elbv2
  region: ${aws ? aws.region : '${AWS_REGION}'}
  # The listener whose default forward action holds BOTH pools' target groups (live at weight
  # 100, the other at 0): ELBv2 health-checks only target groups a listener uses. For a load
  # balancer shared by several apps, switch one listener rule instead: ruleArn: arn:…
  listenerArn: ${aws ? `'${aws.listenerArn}'` : "'${BLUEGREEN_LISTENER_ARN}'"}${aws?.endpoint ? `\n  endpoint: ${aws.endpoint}` : ''}
  # Pool health: ELBv2's own target health (DescribeTargetHealth) of each pool's target group.

pools:
  blue: { targetGroupArn: ${aws ? `'${aws.blue}'` : "'${BLUEGREEN_BLUE_TG_ARN}'"} }
  green: { targetGroupArn: ${aws ? `'${aws.green}'` : "'${BLUEGREEN_GREEN_TG_ARN}'"} }
`
  }
  if (input.provider === 'haproxy') {
    return `
loadBalancer:
  provider: haproxy
  # The runtime API, from haproxy.cfg's global section:
  #   stats socket /run/haproxy/admin.sock mode 600 level admin
  # (a path, or unix:/path, or host:port for \`stats socket ipv4@127.0.0.1:9999 level admin\`).
  # A switch sets server weights through it: no reload, no dropped connection.
  runtimeApi: \${HAPROXY_RUNTIME_API:-/run/haproxy/admin.sock}
  # The one backend that holds both pools' servers; give each server a health check (\`check\`).
  backend: ${input.app}
  # Pool health: HAProxy's own health checks of each server, read through the runtime API.

pools:
  # Server names inside the backend. The inactive pool runs at weight 0, not in maintenance,
  # so HAProxy keeps health-checking it.
  blue: { servers: [blue1, blue2] }
  green: { servers: [green1, green2] }
`
  }
  return `
loadBalancer:
  provider: nginx
  # The include file holding the upstream block, included from nginx.conf's http section
  # (include /etc/nginx/conf.d/*.conf;). Start it as, for example:
  #   upstream ${input.app} {
  #       server 10.0.1.10:8080;            # blue
  #       server 10.0.2.10:8080 down;       # green, inactive
  #   }
  # bluegreen rewrites the server lines of that block (write, then rename), runs \`test\`, then
  # \`reload\`. A reload closes idle keep-alive connections: a client racing that close sees one
  # error. nginx started with -p/-c? Repeat them here, e.g.
  #   test: [nginx, -p, /srv/nginx, -c, conf/nginx.conf, -t]
  upstreamFile: \${NGINX_UPSTREAM_FILE:-/etc/nginx/conf.d/${input.app}-upstream.conf}
  upstream: ${input.app}
  test: [nginx, -t]
  reload: [nginx, -s, reload]
  # Pool health: the free nginx reports none, so bluegreen connects to each server (TCP) itself.

pools:
  # host:port of each server, as in the upstream block.
  blue: { servers: ['10.0.1.10:8080'] }
  green: { servers: ['10.0.2.10:8080'] }
`
}

const phases = (input: PlanTemplateInput) => `
phases:
  # Backward-compatible migrations (new nullable columns, new tables, CREATE INDEX
  # CONCURRENTLY), linted, applied in file-name order before the new code ships.
  - expand: { dir: migrations/expand, allowEmpty: true }

  # Your deploy command, run for the INACTIVE pool; an argv list (shell: true for a string).
  # It returns once the version is installed; bluegreen then waits until the pool is healthy.
  - deploy:
      run: [./deploy.sh, '{{pool}}', '{{version}}']
      timeout: 15m

  # HTTP checks against every target of the inactive pool, sent with the production Host
  # header. expect: status (200 or [200, 204]), headers, headersMatch, bodyContains,
  # bodyMatches, json ([{ path, equals }]), maxLatency (e.g. 500ms).
  - smoke:
      host: \${APP_HOST:-${input.app}.example.com}
      checks:
        - { path: /healthz, expect: { status: 200 } }

  # Traffic to the new pool in steps, health-checked after each one.
  - switch: { steps: [10, 50, 100], interval: 1m }

  # Watches production for a while; on failure, switches back at once (exit code 3).
  - verify: { url: 'https://\${APP_HOST:-${input.app}.example.com}/healthz', for: 5m }

  # The old pool stays the rollback target (\`bluegreen rollback\`) this long.
  - standby: { for: 24h }

  # Drops and cleanup, run by a LATER release once no pool can run the old code (or after
  # \`bluegreen retire\`); this release's own files are recorded as pending.
  - contract: { dir: migrations/contract, allowEmpty: true, notBefore: 14d }
`

export function planTemplate(input: PlanTemplateInput): string {
  return header(input) + loadBalancer(input) + phases(input)
}

export const expandReadme = `# Expand migrations

\`.sql\` files applied in file-name order (\`001_add_last_name.sql\`, \`002_…\`) by the release's
\`expand\` phase, **before** the new code ships. Only backward-compatible changes: the running
version must keep working on the result.

- yes: \`ALTER TABLE … ADD COLUMN … NULL\`, new tables, \`CREATE INDEX CONCURRENTLY\`
- no: \`DROP\`, \`RENAME\`, \`SET NOT NULL\`, type changes (those go to ../contract, later)

\`bluegreen lint migrations/expand --phase expand\` checks them. An applied file must not change
(its checksum is recorded); add a new file instead.
`

export const contractReadme = `# Contract migrations

\`.sql\` files that remove what the **previous** version still used: \`DROP COLUMN\`, \`DROP TABLE\`,
\`SET NOT NULL\`. A release records its contract files as pending; they run once no pool can run
the old version any more (the next release replaced the standby, or \`bluegreen retire\`), and
after \`notBefore\` in the plan. That keeps \`bluegreen rollback\` schema-safe.

\`bluegreen contract\` runs the due ones (it lists each file and what it drops, and asks);
\`bluegreen contract --check\` gives cron an exit code.
`
