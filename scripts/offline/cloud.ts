/**
 * What the cloud fills in when it creates a resource, for the offline run (`npm run plan`) and the unit tests'
 * mocks: one copy, so both see the same addresses. Documentation address ranges only (RFC 5737).
 */
export function cloudOutputs(type: string, n: number, inputs: Record<string, unknown>): Record<string, unknown> | undefined {
  switch (type) {
    case "openstack:networking/floatingIp:FloatingIp":
      return { ...inputs, address: `203.0.113.${10 + (n % 240)}` };
    case "openstack:compute/instance:Instance":
      // The cloud resolves the image's name to its id, as the provider records it in imageId; machine ids include it.
      return { ...inputs, accessIpV4: `198.51.100.${10 + (n % 240)}`, imageId: `image-id-of-${String(inputs.imageName)}` };
    default:
      return undefined;
  }
}
