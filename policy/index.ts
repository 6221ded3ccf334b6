import { PolicyPack } from "@pulumi/policy";
import { fleetPolicies } from "./policies";

// Constructing the pack starts the analyzer server the Pulumi CLI talks to; tests import ./policies instead.
new PolicyPack("openstack-fleet", { policies: fleetPolicies });
