# The Debian package (`make deb`, docs/operations.md "Debian package"):
# included when the tree is configured with -DWEBSERV_DEB=ON and
# -DCMAKE_INSTALL_PREFIX=/usr (scripts/make-deb.sh does both), then `cpack -G DEB`
# writes webserv_<version>_<arch>.deb. Everything `cmake --install` installs
# (binary, modules, SDK: header, pkg-config, CMake package, test host,
# schema) goes in, plus what a Debian system expects of a service: the
# systemd unit, the logrotate file, a default config under /etc/webserv
# serving /var/www/html, the default page, copyright and changelog, a
# compressed man page, and maintainer scripts that create the system user.

set(DEB_SRC ${CMAKE_SOURCE_DIR}/contrib/debian)
set(DEB_OUT ${CMAKE_BINARY_DIR}/deb)
set(DEB_DOC ${CMAKE_INSTALL_DATADIR}/doc/webserv)

# The systemd unit of contrib/ with the package's paths and user.
file(READ ${CMAKE_SOURCE_DIR}/contrib/webserv.service _unit)
string(REPLACE "/usr/local/bin/webserv" "/usr/bin/webserv" _unit "${_unit}")
string(REPLACE "/usr/local/etc/webserv" "/etc/webserv" _unit "${_unit}")
string(REPLACE "User=www-data" "User=webserv" _unit "${_unit}")
string(REPLACE "Group=www-data" "Group=webserv" _unit "${_unit}")
string(REGEX REPLACE "# Install: [^\n]*\n#[^\n]*\n# Paths are[^\n]*\n# ExecStartPre[^\n]*\n" "" _unit "${_unit}")
file(WRITE ${DEB_OUT}/webserv.service "${_unit}")
install(FILES ${DEB_OUT}/webserv.service DESTINATION /lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/contrib/logrotate DESTINATION /etc/logrotate.d RENAME webserv)

install(FILES ${DEB_SRC}/server.json DESTINATION /etc/webserv)
install(FILES ${DEB_SRC}/index.webserv-debian.html DESTINATION ${CMAKE_INSTALL_DATADIR}/webserv/html)

# Documentation: copyright, a compressed changelog and man page (gzip -n: no
# time stamp, so the package is reproducible).
configure_file(${DEB_SRC}/changelog ${DEB_OUT}/changelog.Debian @ONLY)
find_program(GZIP gzip REQUIRED)
add_custom_command(OUTPUT ${DEB_OUT}/changelog.Debian.gz ${DEB_OUT}/webserv.8.gz
  COMMAND ${GZIP} -9nc ${DEB_OUT}/changelog.Debian > ${DEB_OUT}/changelog.Debian.gz
  COMMAND ${GZIP} -9nc ${CMAKE_SOURCE_DIR}/docs/webserv.8 > ${DEB_OUT}/webserv.8.gz
  DEPENDS ${DEB_OUT}/changelog.Debian ${CMAKE_SOURCE_DIR}/docs/webserv.8)
add_custom_target(deb_docs ALL DEPENDS ${DEB_OUT}/changelog.Debian.gz ${DEB_OUT}/webserv.8.gz)
install(FILES ${DEB_SRC}/copyright DESTINATION ${DEB_DOC})
install(FILES ${DEB_OUT}/changelog.Debian.gz DESTINATION ${DEB_DOC} RENAME changelog.gz) # a native package

# Maintainer scripts and the files under /etc that dpkg keeps on upgrade.
file(WRITE ${DEB_OUT}/conffiles
  "/etc/webserv/server.json\n/etc/logrotate.d/webserv\n")
foreach(s postinst prerm postrm)
  file(COPY ${DEB_SRC}/${s} DESTINATION ${DEB_OUT}
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME webserv)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "webserv maintainers <webserv@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "modular HTTP/1.1 server")
set(CPACK_PACKAGE_DESCRIPTION "webserv is a small event-driven HTTP/1.1 server whose features are
modules loaded from its JSON configuration: static files, folder listings,
uploads and CGI come bundled, and the SDK (header, pkg-config file, CMake
package and test host) builds more.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION httpd)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_PROVIDES "httpd")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${DEB_OUT}/conffiles;${DEB_OUT}/postinst;${DEB_OUT}/prerm;${DEB_OUT}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR})
include(CPack)
