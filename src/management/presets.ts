// Ready-made settings for popular ad networks and affiliate networks, so a media buyer picks
// "facebook" or "tune" instead of typing macros from memory (and getting one wrong).
import type { TrafficSourceParam } from '../db/schema.js';

export interface TrafficSourcePreset {
  label: string;
  params: TrafficSourceParam[];
  /** The network's server-to-server conversion URL, when it has a plain GET one. */
  postbackUrl?: string;
}

/**
 * Macros as each network documents them. A param with an empty token is one the network appends
 * by itself (Facebook's fbclid): /click reads it, but it is left out of the tracking link.
 */
export const TRAFFIC_SOURCE_PRESETS = {
  facebook: {
    label: 'Facebook / Meta Ads',
    params: [
      { name: 'campaign_id', token: '{{campaign.id}}', role: 'campaign' },
      { name: 'adset_id', token: '{{adset.id}}', role: 'adset' },
      { name: 'ad_id', token: '{{ad.id}}', role: 'ad' },
      { name: 'placement', token: '{{placement}}', role: 'placement' },
      { name: 'site_source', token: '{{site_source_name}}', role: 'custom' },
      { name: 'fbclid', token: '', role: 'externalId' },
    ],
  },
  google: {
    label: 'Google Ads',
    params: [
      { name: 'campaignid', token: '{campaignid}', role: 'campaign' },
      { name: 'adgroupid', token: '{adgroupid}', role: 'adset' },
      { name: 'creative', token: '{creative}', role: 'ad' },
      { name: 'keyword', token: '{keyword}', role: 'custom' },
      { name: 'placement', token: '{placement}', role: 'placement' },
      { name: 'gclid', token: '{gclid}', role: 'externalId' },
    ],
  },
  tiktok: {
    label: 'TikTok Ads',
    params: [
      { name: 'campaign_id', token: '__CAMPAIGN_ID__', role: 'campaign' },
      { name: 'adgroup_id', token: '__AID__', role: 'adset' },
      { name: 'ad_id', token: '__CID__', role: 'ad' },
      { name: 'placement', token: '__PLACEMENT__', role: 'placement' },
      // __CALLBACK_PARAM__ is TikTok's macro for the ttclid value.
      { name: 'ttclid', token: '__CALLBACK_PARAM__', role: 'externalId' },
    ],
  },
  taboola: {
    label: 'Taboola',
    params: [
      { name: 'campaign_id', token: '{campaign_id}', role: 'campaign' },
      { name: 'campaign_item_id', token: '{campaign_item_id}', role: 'ad' },
      { name: 'site_id', token: '{site_id}', role: 'placement' },
      { name: 'click_id', token: '{click_id}', role: 'externalId' },
    ],
    postbackUrl:
      'https://trc.taboola.com/actions-handler/log/3/s2s-action?click-id={externalid}&name={type}&revenue={payout}&currency={currency}',
  },
  outbrain: {
    label: 'Outbrain',
    params: [
      { name: 'campaign_id', token: '{{campaign_id}}', role: 'campaign' },
      { name: 'ad_id', token: '{{ad_id}}', role: 'ad' },
      { name: 'section_id', token: '{{section_id}}', role: 'placement' },
      { name: 'ob_click_id', token: '{{ob_click_id}}', role: 'externalId' },
    ],
    postbackUrl: 'https://tr.outbrain.com/unifiedPixel?ob_click_id={externalid}&name={type}&orderValue={payout}&currency={currency}',
  },
  mgid: {
    label: 'MGID',
    params: [
      { name: 'campaign_id', token: '{campaign_id}', role: 'campaign' },
      { name: 'teaser_id', token: '{teaser_id}', role: 'ad' },
      { name: 'widget_id', token: '{widget_id}', role: 'placement' },
      { name: 'click_id', token: '{click_id}', role: 'externalId' },
    ],
    // MGID's `e` is the goal name set up in its dashboard: name the conversion type the same.
    postbackUrl: 'https://a.mgid.com/postback?c={externalid}&e={type}&r={payout}',
  },
  propellerads: {
    label: 'PropellerAds',
    params: [
      { name: 'campaign_id', token: '{campaignid}', role: 'campaign' },
      { name: 'banner_id', token: '{bannerid}', role: 'ad' },
      { name: 'zone_id', token: '{zoneid}', role: 'placement' },
      { name: 'subid', token: '${SUBID}', role: 'externalId' },
    ],
    // PropellerAds' postback carries account-specific aid/tid values, so it is not preset.
  },
} as const satisfies Record<string, TrafficSourcePreset>;

export type TrafficSourcePresetName = keyof typeof TRAFFIC_SOURCE_PRESETS;
export const TRAFFIC_SOURCE_PRESET_NAMES = Object.keys(TRAFFIC_SOURCE_PRESETS) as [TrafficSourcePresetName, ...TrafficSourcePresetName[]];

export interface AffiliateNetworkPreset {
  label: string;
  clickIdToken: string;
  payoutToken?: string;
  txidToken?: string;
  statusToken?: string;
  /** How the network's raw status values map to ours, when it sends words of its own. */
  statusMap?: Record<string, 'approved' | 'pending' | 'declined'>;
}

/** The macros each network fills into a postback URL: our click ID (sent as sub ID), payout, txid, status. */
export const AFFILIATE_NETWORK_PRESETS = {
  tune: { label: 'TUNE (HasOffers)', clickIdToken: '{aff_sub}', payoutToken: '{payout}', txidToken: '{transaction_id}' },
  hasoffers: { label: 'HasOffers (TUNE)', clickIdToken: '{aff_sub}', payoutToken: '{payout}', txidToken: '{transaction_id}' },
  cake: { label: 'CAKE', clickIdToken: '#s2#', payoutToken: '#price#', txidToken: '#tid#' },
  everflow: { label: 'Everflow', clickIdToken: '{sub1}', payoutToken: '{payout_amount}', txidToken: '{transaction_id}' },
  impact: {
    label: 'impact.com',
    clickIdToken: '{SubId1}',
    payoutToken: '{Payout}',
    txidToken: '{ActionId}',
    statusToken: '{ActionStatus}',
    statusMap: { APPROVED: 'approved', PENDING: 'pending', REVERSED: 'declined' },
  },
} as const satisfies Record<string, AffiliateNetworkPreset>;

export type AffiliateNetworkPresetName = keyof typeof AFFILIATE_NETWORK_PRESETS;
export const AFFILIATE_NETWORK_PRESET_NAMES = Object.keys(AFFILIATE_NETWORK_PRESETS) as [
  AffiliateNetworkPresetName,
  ...AffiliateNetworkPresetName[],
];
