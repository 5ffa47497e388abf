"""Dashboards: the Power BI project and .pbix (built from `spec`), and the offline report.html."""
