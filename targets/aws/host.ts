/**
 * One scenario host on aws: its network interface (made first, so that its private address is
 * known before any user data is rendered: the database's pg_hba needs the app servers'
 * addresses and the app servers need the database's), an optional EBS data volume, and the
 * EC2 instance configured by cloud-init.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { HostPlan } from "../../topology/plan";
import { AWS_USER_DATA_LIMIT, awsVolumeDevice, renderCloudInit, type CloudHostArgs } from "../cloudinit";

/** Debian's official AMIs: owner account and name pattern (Debian 13 trixie, amd64). */
export const DEBIAN_OWNER = "136693071363";
export const DEBIAN_AMI_NAME = "debian-13-amd64-*";

export function debianAmi(provider: aws.Provider): pulumi.Output<string> {
  return aws.ec2
    .getAmiOutput(
      {
        owners: [DEBIAN_OWNER],
        mostRecent: true,
        filters: [
          { name: "name", values: [DEBIAN_AMI_NAME] },
          { name: "architecture", values: ["x86_64"] },
        ],
      },
      { provider },
    )
    .apply((ami) => ami.id);
}

export interface HostContext {
  readonly provider: aws.Provider;
  readonly ami: pulumi.Input<string>;
  readonly keyName: string;
}

export interface AwsHostArgs {
  readonly host: HostPlan;
  readonly nic: aws.ec2.NetworkInterface;
  readonly subnet: aws.ec2.Subnet;
  readonly instanceType: string;
  /** Cloud-init inputs, without the volume device (known only once the volume exists). */
  readonly cloudInit: pulumi.Input<Omit<CloudHostArgs, "volume">>;
  /** Whether the user data holds a secret (then the whole user data is marked secret). */
  readonly secret: boolean;
  readonly volume?: { readonly sizeGiB: number; readonly mountPoint: string };
  /**
   * Stateless hosts are replaced when their user data changes, so the new role script runs;
   * stateful ones (database, bricks) are not, and keep their data volume (see docs/clouds.md).
   */
  readonly replaceOnChange: boolean;
  readonly parent: pulumi.Resource;
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** Refuses user data that EC2 would reject, naming the host (checked where it is rendered). */
export function checkUserDataSize(host: string, userData: string): string {
  const bytes = Buffer.byteLength(userData, "utf8");
  if (bytes > AWS_USER_DATA_LIMIT) throw new Error(`user data of ${host} is ${bytes} bytes; EC2 accepts at most ${AWS_USER_DATA_LIMIT}`);
  return userData;
}

export interface AwsHost {
  readonly instance: aws.ec2.Instance;
  readonly resources: pulumi.Resource[];
}

export function createAwsHost(ctx: HostContext, args: AwsHostArgs): AwsHost {
  const o = { provider: ctx.provider, parent: args.parent };
  const name = args.host.name;
  const volume = args.volume
    ? new aws.ebs.Volume(
        `${name}-data`,
        {
          availabilityZone: args.subnet.availabilityZone,
          size: args.volume.sizeGiB,
          type: "gp3",
          encrypted: true,
          tags: { Name: `crm-${name}-data` },
        },
        o,
      )
    : undefined;
  const mount = args.volume?.mountPoint;
  const rendered = pulumi
    .all([args.cloudInit, volume?.id ?? pulumi.output(undefined)])
    .apply(([cloudInit, volumeId]) =>
      checkUserDataSize(
        name,
        renderCloudInit({ ...cloudInit, volume: volumeId && mount ? { device: awsVolumeDevice(volumeId), mountPoint: mount } : undefined }),
      ),
    );
  const instance = new aws.ec2.Instance(
    name,
    {
      ami: ctx.ami,
      instanceType: args.instanceType,
      keyName: ctx.keyName,
      primaryNetworkInterface: { networkInterfaceId: args.nic.id },
      userData: args.secret ? pulumi.secret(rendered) : rendered,
      userDataReplaceOnChange: args.replaceOnChange,
      // IMDSv2 only: the user data (with secrets) is not readable through a forged plain GET.
      metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 },
      rootBlockDevice: { volumeType: "gp3", volumeSize: 10, encrypted: true },
      tags: { Name: `crm-${name}`, role: args.host.role },
    },
    { ...o, dependsOn: args.dependsOn },
  );
  const resources: pulumi.Resource[] = [instance];
  if (volume) {
    // The device name is only a hint on Nitro; cloud-init finds the volume by its id (awsVolumeDevice).
    resources.push(
      new aws.ec2.VolumeAttachment(`${name}-data`, { deviceName: "/dev/sdf", volumeId: volume.id, instanceId: instance.id }, o),
    );
  }
  return { instance, resources };
}
