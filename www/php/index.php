<?php
// The demo's PHP page: run by PHP-FPM through webserv's fastcgi module.
header('Content-Type: text/html; charset=utf-8');
$name = isset($_GET['name']) && $_GET['name'] !== '' ? $_GET['name'] : 'visitor';
?><!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>webserv demo: PHP</title><link rel="stylesheet" href="/style.css"></head>
<body>
<h1>Hello from PHP <?= htmlspecialchars(PHP_VERSION) ?></h1>
<p id="greeting">Hello, <?= htmlspecialchars($name) ?>!</p>
<form method="get" action="/php/"><input name="name" placeholder="your name"> <button>Greet me</button></form>
<p>Served by PHP-FPM (<code><?= htmlspecialchars(PHP_SAPI) ?></code>) through webserv's fastcgi module;
request <code><?= htmlspecialchars($_SERVER['REQUEST_URI']) ?></code> over <code><?= htmlspecialchars($_SERVER['SERVER_PROTOCOL']) ?></code>.</p>
<p><a href="/">Back to the start page</a></p>
</body>
</html>
