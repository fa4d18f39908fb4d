/**
 * One scenario host on aws: an EC2 instance that owns its network interface, configured by
 * cloud-init, with an optional EBS data volume, and the instance profiles hosts run under.
 *
 * Replacement is decided here. A host with a fixed private address (database, bricks, the
 * management host: their peers and users name them by address) cannot have a successor while it
 * still holds the address, so it is replaced delete-before-create; its data lives on the EBS
 * volume, which survives. An app server takes any address of its subnet, so its successor is made
 * first and the load balancer never loses every member at once.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { HostPlan } from "../../topology/plan";
import { AWS_USER_DATA_LIMIT, awsVolumeDevice, renderCloudInit } from "../cloud/cloudinit";
import type { CloudInitInput } from "../cloud/userData";
import { EC2_ASSUME_ROLE_POLICY, SSM_POLICY_ARN } from "./delivery";

/** Refuses user data that EC2 would reject, naming the host (checked where it is rendered). */
export function checkUserDataSize(host: string, userData: string): string {
  const bytes = Buffer.byteLength(userData, "utf8");
  if (bytes > AWS_USER_DATA_LIMIT) throw new Error(`user data of ${host} is ${bytes} bytes; EC2 accepts at most ${AWS_USER_DATA_LIMIT}`);
  return userData;
}

/** What a changed user data does to an existing host. */
export type OnUserDataChange =
  /** A new instance runs the new role script (cloud-init runs once per instance). */
  | "replace"
  /** Kept as it is: a stateful host is not restarted for a role change; `pulumi up --replace` or SSM re-runs it. */
  | "ignore";

export interface AwsHostArgs {
  readonly host: HostPlan;
  readonly subnet: aws.ec2.Subnet;
  readonly securityGroup: aws.ec2.SecurityGroup;
  /** A private address that survives replacement; absent: any address of the subnet. */
  readonly fixedAddress?: string;
  readonly ami: string;
  readonly instanceType: string;
  readonly keyName?: string;
  readonly profile: aws.iam.InstanceProfile;
  /** Cloud-init inputs, without the volume device (known only once the volume exists). */
  readonly cloudInit: pulumi.Input<CloudInitInput>;
  /** Whether the user data holds a secret (then the whole user data is marked secret). */
  readonly secret: boolean;
  /** A data volume and the paths kept on it (DataVolume.keeps). */
  readonly volume?: { readonly sizeGiB: number; readonly keeps: readonly string[] };
  readonly onUserDataChange: OnUserDataChange;
}

export interface AwsHost {
  readonly instance: aws.ec2.Instance;
  readonly resources: pulumi.Resource[];
}

/** The resource options that decide how a host is replaced (pure, asserted by the tests). */
export function hostReplacement(args: Pick<AwsHostArgs, "fixedAddress" | "onUserDataChange">): {
  userDataReplaceOnChange: boolean;
  opts: Pick<pulumi.CustomResourceOptions, "deleteBeforeReplace" | "ignoreChanges">;
} {
  return {
    userDataReplaceOnChange: args.onUserDataChange === "replace",
    opts: {
      deleteBeforeReplace: args.fixedAddress !== undefined,
      ignoreChanges: args.onUserDataChange === "ignore" ? ["userData"] : [],
    },
  };
}

export function createAwsHost(
  name: string,
  args: AwsHostArgs,
  opts: { parent: pulumi.Resource; provider: aws.Provider; dependsOn?: pulumi.Input<pulumi.Resource>[] },
): AwsHost {
  const o = { parent: opts.parent, provider: opts.provider };
  const volume = args.volume
    ? new aws.ebs.Volume(
        `${name}-data`,
        {
          availabilityZone: args.subnet.availabilityZone,
          size: args.volume.sizeGiB,
          type: "gp3",
          encrypted: true,
          tags: { Name: `${name}-data` },
        },
        o,
      )
    : undefined;
  const keeps = args.volume?.keeps ?? [];
  const rendered = pulumi
    .all([args.cloudInit, volume?.id ?? pulumi.output(undefined)])
    .apply(([cloudInit, volumeId]) =>
      checkUserDataSize(
        args.host.name,
        renderCloudInit({ ...cloudInit, volume: volumeId ? { device: awsVolumeDevice(volumeId), keeps } : undefined }),
      ),
    );
  const replacement = hostReplacement(args);
  const instance = new aws.ec2.Instance(
    name,
    {
      ami: args.ami,
      instanceType: args.instanceType,
      keyName: args.keyName,
      subnetId: args.subnet.id,
      privateIp: args.fixedAddress,
      vpcSecurityGroupIds: [args.securityGroup.id],
      iamInstanceProfile: args.profile.name,
      userData: args.secret ? pulumi.secret(rendered) : rendered,
      userDataReplaceOnChange: replacement.userDataReplaceOnChange,
      // IMDSv2 only: the user data (with secrets) is not readable through a forged plain GET.
      metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 },
      rootBlockDevice: { volumeType: "gp3", volumeSize: 10, encrypted: true },
      tags: { Name: name, role: args.host.role },
    },
    { ...o, ...replacement.opts, dependsOn: opts.dependsOn },
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

/**
 * The role hosts run under: SSM's managed policy (shell access through Session Manager), plus an
 * inline policy where the hosts read something of the stack (the app servers, their bundle).
 */
export function createInstanceProfile(
  name: string,
  inlinePolicy: pulumi.Input<string> | undefined,
  opts: { parent: pulumi.Resource; provider: aws.Provider },
): aws.iam.InstanceProfile {
  const role = new aws.iam.Role(name, { assumeRolePolicy: EC2_ASSUME_ROLE_POLICY, tags: { Name: name } }, opts);
  const grants: pulumi.Resource[] = [new aws.iam.RolePolicyAttachment(`${name}-ssm`, { role: role.name, policyArn: SSM_POLICY_ARN }, opts)];
  if (inlinePolicy !== undefined) grants.push(new aws.iam.RolePolicy(`${name}-read`, { role: role.id, policy: inlinePolicy }, opts));
  // The rights first: a host that boots under the profile uses them at once.
  return new aws.iam.InstanceProfile(name, { role: role.name }, { ...opts, dependsOn: grants });
}
