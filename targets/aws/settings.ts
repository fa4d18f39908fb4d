/** Settings of the aws target, validated like topology/settings.ts (messages start with the key). */
import { z } from "zod";
import { CLOUD_COMMON_KEYS, cloudCommonSchema, gibibytes, optionalBoolean, parseKeyed, readRaw, required } from "../cloud/settings";

export const AWS_DATABASES = ["ec2", "rds"] as const;

export const awsSchema = cloudCommonSchema.extend({
  awsRegion: required.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "must be an AWS region such as eu-west-1"),
  /**
   * The image of every host, pinned: an AMI id of Debian 13 in the region. A new image is a
   * deliberate change of this key (docs/clouds.md, "Updating the image"), never a side effect
   * of Debian publishing one.
   */
  awsAmi: required.regex(/^ami-[0-9a-f]{8,17}$/, "must be an AMI id such as ami-0123456789abcdef0"),
  /** An EC2 key pair for the default user; optional: SSM and the management host give shell access without one. */
  awsKeyName: z.string().min(1).optional(),
  awsInstanceType: z.string().min(1).default("t3.small"),
  awsDbInstanceType: z.string().min(1).default("t3.small"),
  awsDatabase: z.enum(AWS_DATABASES).default("ec2"),
  awsNatPerZone: optionalBoolean(false),
  awsVolumeSize: gibibytes(20),
  /**
   * A Route 53 hosted zone (its id) that holds crm:domain: the program writes the ACM certificate's
   * validation record and the domain's alias to the ALB there. Without it, those records are the
   * user's to make (`pulumi up` prints the validation record while it waits; docs/clouds.md, "HTTPS").
   */
  awsZoneId: z
    .string()
    .regex(/^Z[A-Z0-9]{1,32}$/, "must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")
    .optional(),
});
export type AwsSettings = z.infer<typeof awsSchema>;
export const AWS_KEYS = [
  ...CLOUD_COMMON_KEYS,
  "awsRegion",
  "awsAmi",
  "awsKeyName",
  "awsInstanceType",
  "awsDbInstanceType",
  "awsDatabase",
  "awsNatPerZone",
  "awsVolumeSize",
  "awsZoneId",
] as const;

export function parseAwsSettings(raw: Readonly<Record<string, unknown>>): AwsSettings {
  return parseKeyed(awsSchema, raw, "the aws target");
}

export function loadAwsSettings(): AwsSettings {
  return parseAwsSettings(readRaw(AWS_KEYS));
}
