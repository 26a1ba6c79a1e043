/* xfrm interfaces (route-based tunnels keyed by if_id) over rtnetlink. */
#include <errno.h>
#include <string.h>

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "xfrm/internal.h"

static int rtnl_request(struct nlmsghdr *nlh, struct xfrm_err *err)
{
	struct xfrm_sock rt;
	int rc = xfrm_open_proto(&rt, NETLINK_ROUTE);

	if (rc < 0)
		return rc;
	nlh->nlmsg_seq = ++rt.seq;
	rc = xfrm_talk(&rt, nlh, nlh->nlmsg_len, 1, nlh->nlmsg_seq, NULL, NULL, NULL, false, err);
	xfrm_close(&rt);
	return rc;
}

int xfrm_link_add(const char *name, uint32_t dev_ifindex, uint32_t if_id, struct xfrm_err *err)
{
	uint8_t buf[512];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	struct nlattr *info, *data;

	if (!name || !*name || strlen(name) >= IFNAMSIZ || if_id == 0)
		return -EINVAL;
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "xfrm");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	if (dev_ifindex)
		mnl_attr_put_u32(nlh, IFLA_XFRM_LINK, dev_ifindex);
	mnl_attr_put_u32(nlh, IFLA_XFRM_IF_ID, if_id);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return rtnl_request(nlh, err);
}

int xfrm_link_del(const char *name, struct xfrm_err *err)
{
	uint8_t buf[128];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	nlh->nlmsg_type = RTM_DELLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return rtnl_request(nlh, err);
}

int xfrm_probe_link(const char **ret_option, struct xfrm_err *err)
{
	static const char name[] = "ikdprobe0";
	int rc = xfrm_link_add(name, 0, 0x7fffffff, err);

	*ret_option = NULL;
	if (rc == 0)
		return xfrm_link_del(name, err);
	if (rc == -EOPNOTSUPP)
		*ret_option = "CONFIG_XFRM_INTERFACE";
	return rc;
}
