/* mgmtd/api_settings.h — SQL fragments of the flat settings (schema 085)
 * shared by the admin's settings resource (mgmtd/api_flat_settings.c) and
 * the gateway's handsets endpoint (mgmtd/broker_handsets.c), so both say
 * the same thing about a flat. */
#ifndef DPN_MGMTD_API_SETTINGS_H
#define DPN_MGMTD_API_SETTINGS_H

/* The settings of flat f as the gateway applies them: {ring_timeout (null:
 * the gateway's own), forward_to (null), forward_when}. */
#define SETTINGS_BROKER_JSON "coalesce((SELECT json_build_object('ring_timeout', " \
	"fs.ring_timeout, 'forward_to', fs.forward_to, 'forward_when', fs.forward_when) " \
	"FROM dpn.flat_settings fs WHERE fs.flat_id = f.id), json_build_object(" \
	"'ring_timeout', NULL, 'forward_to', NULL, 'forward_when', 'never'))"

/* Whether handset h is set to do-not-disturb. */
#define SETTINGS_HANDSET_DND "coalesce((SELECT hs.dnd FROM dpn.handset_settings hs " \
	"WHERE hs.handset_id = h.id), false)"

#endif
