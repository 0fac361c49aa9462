#include "daemon/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace agd::daemon {

Result<Identity> look_up(const std::string& user, const std::string& group) {
    using R = Result<Identity>;
    Identity id;
    std::vector<char> buf(16384);
    struct passwd pw {}, *pwp = nullptr;
    if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &pwp) != 0 || !pwp)
        return R::fail(EX_CONFIG, "server.user: no user named '" + user + "'");
    id.uid = pw.pw_uid;
    id.gid = pw.pw_gid;
    id.user = user;
    if (!group.empty()) {
        struct group gr {}, *grp = nullptr;
        if (getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &grp) != 0 || !grp)
            return R::fail(EX_CONFIG, "server.group: no group named '" + group + "'");
        id.gid = gr.gr_gid;
        id.group = group;
    } else {
        struct group gr {}, *grp = nullptr;
        if (getgrgid_r(id.gid, &gr, buf.data(), buf.size(), &grp) == 0 && grp) id.group = gr.gr_name;
        else id.group = std::to_string(id.gid);
    }
    return id;
}

Status become(const Identity& who) {
    auto refused = [](const char* what) {
        return Status::fail(EX_NOPERM, std::string("cannot drop root privileges: ") + what + ": " + std::strerror(errno));
    };
    // The user's supplementary groups, then the group, then the user: after
    // setuid there is no way back to change the others.
    if (initgroups(who.user.c_str(), static_cast<gid_t>(who.gid)) != 0) return refused("initgroups");
    if (setgid(static_cast<gid_t>(who.gid)) != 0) return refused("setgid");
    if (setuid(static_cast<uid_t>(who.uid)) != 0) return refused("setuid");
    if (who.uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return Status::fail(EX_SOFTWARE, "root privileges could be regained after dropping them");
    return {};
}

}  // namespace agd::daemon
