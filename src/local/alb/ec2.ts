/**
 * EC2's DescribeInstances on the emulator's endpoint, for the instances its config declares, so
 * the aws-elbv2 adapter can resolve the private IPs of instance targets as it does on AWS. EC2
 * speaks its own Query dialect (API 2016-11-15): flat lists (`InstanceId.1`), lists in the reply
 * as `<item>`, and errors as `<Response><Errors><Error>…`.
 */
import type { ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import { escapeXml } from './query.js'
import type { AlbState } from './state.js'

const namespace = 'http://ec2.amazonaws.com/doc/2016-11-15/'

class Ec2Error extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export class Ec2Api {
  static readonly version = '2016-11-15'

  constructor(private readonly state: AlbState) {}

  handle(form: URLSearchParams, requestId: string, res: ServerResponse): void {
    try {
      const xml = this.describeInstances(form, requestId)
      res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' }).end(xml)
    } catch (error) {
      const e =
        error instanceof Ec2Error ? error : new Ec2Error('InternalError', 'An internal error has occurred')
      res
        .writeHead(e.code === 'InternalError' ? 500 : 400, { 'content-type': 'text/xml;charset=UTF-8' })
        .end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(e.code)}</Code>` +
            `<Message>${escapeXml(e.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
        )
    }
  }

  private describeInstances(form: URLSearchParams, requestId: string): string {
    const ids: string[] = []
    const filterIds: string[][] = []
    let count = 0
    for (const [key, value] of form) {
      if (++count > 1000) throw new Ec2Error('InvalidParameterValue', 'Too many parameters')
      if (
        key === 'Action' ||
        key === 'Version' ||
        key === 'DryRun' ||
        key === 'MaxResults' ||
        key === 'NextToken'
      )
        continue
      if (/^InstanceId\.[1-9]\d{0,3}$/.test(key)) {
        ids.push(value)
        continue
      }
      const filter = /^Filter\.([1-9]\d{0,2})\.(Name|Value\.[1-9]\d{0,2})$/.exec(key)
      if (filter) {
        const index = Number(filter[1]) - 1
        filterIds[index] ??= []
        if (filter[2] === 'Name') {
          if (value !== 'instance-id')
            throw new Ec2Error('InvalidParameterValue', 'The emulator supports only the instance-id filter')
        } else filterIds[index].push(value)
        continue
      }
      // Like EC2: the parameter is named, escaped, and nothing else happens.
      throw new Ec2Error('UnknownParameter', `The parameter ${key.slice(0, 64)} is not recognized`)
    }
    if (form.get('DryRun') === 'true')
      throw new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.')
    for (const id of ids) {
      if (!/^i-[0-9a-f]{1,17}$/.test(id))
        throw new Ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${id.slice(0, 64)}"`)
    }
    const known = this.state.instances
    const unknown = ids.filter((id) => !Object.hasOwn(known, id))
    if (unknown.length > 0)
      throw new Ec2Error(
        'InvalidInstanceID.NotFound',
        `The instance ID${unknown.length > 1 ? 's' : ''} '${unknown.join(', ')}' do${unknown.length > 1 ? '' : 'es'} not exist`,
      )
    let selected = ids.length > 0 ? [...new Set(ids)] : Object.keys(known)
    for (const values of filterIds) if (values) selected = selected.filter((id) => values.includes(id))
    const items = selected
      .map((id) => {
        const ip = known[id]
        const address =
          isIP(ip) === 6
            ? `<ipv6Address>${escapeXml(ip)}</ipv6Address>`
            : `<privateIpAddress>${escapeXml(ip)}</privateIpAddress>`
        return (
          `<item><reservationId>r-${id.slice(2).padEnd(17, '0')}</reservationId><ownerId>${this.state.accountId}</ownerId><groupSet/>` +
          `<instancesSet><item><instanceId>${escapeXml(id)}</instanceId><imageId>ami-00000000000000000</imageId>` +
          `<instanceState><code>16</code><name>running</name></instanceState><instanceType>t3.micro</instanceType>` +
          `<placement><availabilityZone>${this.state.region}a</availabilityZone></placement>${address}</item></instancesSet></item>`
        )
      })
      .join('')
    return (
      `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="${namespace}">` +
      `<requestId>${requestId}</requestId><reservationSet>${items}</reservationSet></DescribeInstancesResponse>`
    )
  }
}
