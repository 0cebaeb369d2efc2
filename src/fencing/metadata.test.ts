import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDroverError } from '../shared/errors.js';
import { checkOptionsAgainstAgent, decodeEntities, parseFenceMetadata, parseXml } from './metadata.js';

/** Shaped as fencing.py's metadata() prints it (Debian 12, fence-agents 4.12.1), cut down. */
const METADATA = `<?xml version="1.0" ?>
<resource-agent name="fence_example" shortdesc="Fence agent for Example &amp; Co" >
<symlink name="fence_example2" shortdesc="Same, newer"/>
<longdesc>Talks to <Example> boxes & switches; WARNING! may report success early.</longdesc>
<vendor-url>http://example.com</vendor-url>
<parameters>
	<parameter name="action" unique="0" required="1">
		<getopt mixed="-o, --action=[action]" />
		<content type="string" default="reboot"  />
		<shortdesc lang="en">Fencing action</shortdesc>
	</parameter>
	<parameter name="auth" unique="0" required="0">
		<getopt mixed="-A, --auth=[auth]" />
		<content type="select"  >
			<option value="md5" />
			<option value="password" />
			<option value="none" />
		</content>
		<shortdesc lang="en">IPMI Lan Auth type.</shortdesc>
	</parameter>
	<parameter name="ip" unique="0" required="1" obsoletes="ipaddr">
		<getopt mixed="-a, --ip=[ip]" />
		<content type="string"  />
		<shortdesc lang="en">IP address or hostname of fencing device</shortdesc>
	</parameter>
	<parameter name="ipaddr" unique="0" required="1" deprecated="1">
		<getopt mixed="-a, --ip=[ip]" />
		<content type="string"  />
		<shortdesc lang="en">IP address or hostname of fencing device</shortdesc>
	</parameter>
	<parameter name="ipport" unique="0" required="0">
		<getopt mixed="-u, --ipport=[port]" />
		<content type="integer" default="623"  />
		<shortdesc lang="en">TCP/UDP port to use for connection with device</shortdesc>
	</parameter>
	<parameter name="lanplus" unique="0" required="0">
		<getopt mixed="-P, --lanplus" />
		<content type="boolean" default="0"  />
		<shortdesc lang="en">Use Lanplus to improve security of connection</shortdesc>
	</parameter>
	<parameter name="power_wait" unique="0" required="0">
		<getopt mixed="--power-wait=[seconds]" />
		<content type="second" default="2"  />
		<shortdesc lang="en">Wait X seconds after issuing ON/OFF</shortdesc>
	</parameter>
	<parameter name="redfish-uri" unique="0" required="0">
		<getopt mixed="--redfish-uri=[uri]" />
		<content type="string" default="/redfish/v1"  />
		<shortdesc lang="en">Base or starting Redfish URI</shortdesc>
	</parameter>
</parameters>
<actions>
	<action name="on" automatic="0"/>
	<action name="off" />
	<action name="status" />
	<action name="monitor" />
	<action name="metadata" />
</actions>
</resource-agent>
`;

test('entities decode, numeric ones too, and a stray "&" stays as text', () => {
  assert.equal(decodeEntities('a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#65;&#x42; & e &bogus; &#xZZ;'), 'a <b> & "c" \'d\' AB & e &bogus; &#xZZ;');
});

test('parseXml reads attributes in either quote, self-closing tags, comments and CDATA', () => {
  const root = parseXml(`<?xml version="1.0"?><!-- c --><a x='1' y = "a&amp;b"><b/><c>t<![CDATA[<raw>]]></c></a>`);
  assert.equal(root.name, 'a');
  assert.deepEqual(root.attributes, { x: '1', y: 'a&b' });
  assert.deepEqual(root.children.map((c) => c.name), ['b', 'c']);
  assert.equal(root.children[1]?.text, 't<raw>');
});

test('parseXml refuses malformed documents with FENCE_AGENT_FAILED', () => {
  for (const xml of ['', 'text only', '<a>', '<a></b>', '<a x=1></a>', '<a x="1></a>', '<a></a><b></b>', '<a><!-- </a>', '<a x></a>']) {
    assert.throws(() => parseXml(xml), (err) => isDroverError(err, 'FENCE_AGENT_FAILED'), xml);
  }
});

test('fencing.py-style metadata becomes a parameter list without "action", with aliases linked', () => {
  const description = parseFenceMetadata(METADATA);
  assert.equal(description.name, 'fence_example');
  assert.equal(description.shortDescription, 'Fence agent for Example & Co');
  assert.equal(description.longDescription, 'Talks to <Example> boxes & switches; WARNING! may report success early.');
  assert.deepEqual(description.actions, ['on', 'off', 'status', 'monitor', 'metadata']);
  assert.deepEqual(description.parameters.map((p) => p.name), ['auth', 'ip', 'ipaddr', 'ipport', 'lanplus', 'power_wait', 'redfish-uri']);
  const [auth, ip, ipaddr, ipport] = description.parameters;
  assert.deepEqual(auth, { name: 'auth', required: false, description: 'IPMI Lan Auth type.', type: 'select', deprecated: false, choices: ['md5', 'password', 'none'] });
  assert.deepEqual(ip, { name: 'ip', required: true, description: 'IP address or hostname of fencing device', type: 'string', deprecated: false, obsoletes: 'ipaddr' });
  assert.equal(ipaddr?.deprecated, true);
  assert.equal(ipaddr?.obsoletedBy, 'ip');
  assert.equal(ipport?.default, '623');
});

test('metadata that is not an agent\'s is refused', () => {
  assert.throws(() => parseFenceMetadata('<html><body/></html>'), (err) => isDroverError(err, 'FENCE_AGENT_FAILED'));
});

test('options are checked against the description: names, required ones by either alias, choices, numbers, booleans', () => {
  const description = parseFenceMetadata(METADATA);
  assert.deepEqual(checkOptionsAgainstAgent(description, { ip: '10.0.0.1', auth: 'md5', ipport: '623', lanplus: 'yes', power_wait: '2.5', redfish_uri: '/x' }), []);
  assert.deepEqual(checkOptionsAgainstAgent(description, { ipaddr: '10.0.0.1' }), [], 'the deprecated alias satisfies "ip"');
  assert.deepEqual(checkOptionsAgainstAgent(description, {}), ['option ip is required']);
  const problems = checkOptionsAgainstAgent(description, { ip: 'x', pasword: 'secret-value', auth: 'sha1', ipport: 'http', lanplus: 'maybe', power_wait: 'soon' });
  assert.equal(problems.length, 5, problems.join('\n'));
  assert.match(problems.join('\n'), /no option "pasword"/);
  assert.match(problems.join('\n'), /auth must be one of md5, password, none/);
  assert.ok(!problems.join('\n').includes('secret-value'), 'a value is never quoted');
});
