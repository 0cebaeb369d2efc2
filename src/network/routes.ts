/**
 * The agent API of virtual networks, called by the controller: PUT /api/v1/overlays/:vni makes the
 * network's bridge and VXLAN device exist with exactly the given peers (sent again whenever they change),
 * DELETE removes them, GET answers the current flood list.
 */
import { Type, type Static } from '@fastify/type-provider-typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ensureOverlay, MAX_VNI, overlayBridgeName, overlayPeers, overlayVxlanName, removeOverlay } from './overlay.js';

// Checked in full (isIPv4) by ensureOverlay; the pattern keeps junk out of the schema.
const IPV4 = '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$';
const VniParams = Type.Object({ vni: Type.Integer({ minimum: 1, maximum: MAX_VNI }) });

/** Body of PUT /api/v1/overlays/:vni. */
export const OverlayRequest = Type.Object(
  {
    network: Type.String({ minLength: 1, maxLength: 63, description: 'The virtual network\'s name, for logs.' }),
    mtu: Type.Integer({ minimum: 576, maximum: 9000 }),
    localAddress: Type.String({ pattern: IPV4, description: 'This host\'s underlay address.' }),
    peers: Type.Array(Type.String({ pattern: IPV4 }), { maxItems: 4096, description: 'The other hosts\' underlay addresses.' }),
  },
  { additionalProperties: false },
);
export type OverlayRequest = Static<typeof OverlayRequest>;

/** What an agent says about one overlay on its host. */
export const OverlayView = Type.Object({ vni: Type.Integer(), bridge: Type.String(), vxlan: Type.String(), peers: Type.Array(Type.String()) });
export type OverlayView = Static<typeof OverlayView>;

async function view(vni: number): Promise<OverlayView> {
  return { vni, bridge: overlayBridgeName(vni), vxlan: overlayVxlanName(vni), peers: await overlayPeers(vni) };
}

/** Registers the overlay routes on a host agent; its `ip` and `bridge` commands act in the agent's own namespace. */
export function overlayRoutes() {
  return async function plugin(fastify: FastifyInstance): Promise<void> {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    app.put('/api/v1/overlays/:vni', { schema: { params: VniParams, body: OverlayRequest, response: { 200: OverlayView } } }, async (req) => {
      await ensureOverlay({ vni: req.params.vni, mtu: req.body.mtu, localAddress: req.body.localAddress, peers: req.body.peers });
      return view(req.params.vni);
    });
    app.get('/api/v1/overlays/:vni', { schema: { params: VniParams, response: { 200: OverlayView } } }, async (req) => view(req.params.vni));
    app.delete('/api/v1/overlays/:vni', { schema: { params: VniParams } }, async (req, reply) => {
      await removeOverlay(req.params.vni);
      return reply.status(204).send();
    });
  };
}
